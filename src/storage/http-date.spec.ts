import { parseHttpDate, parseModifiedSince } from './http-date';

describe(parseHttpDate.name, () => {
  const time = Date.UTC(1994, 10, 6, 8, 49, 37);

  it('reads the three forms of RFC 9110 as the same time, in UTC', () => {
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(time);
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT')).toBe(time);
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).toBe(time);
    expect(parseHttpDate(' Sun, 06 Nov 1994 08:49:37 GMT ')).toBe(time);
    // A leap second is the second before it.
    expect(parseHttpDate('Sat, 31 Dec 2016 23:59:60 GMT')).toBe(Date.UTC(2016, 11, 31, 23, 59, 59));
  });

  it('reads a two-digit year as at most 50 years ahead', () => {
    const year = new Date().getUTCFullYear();
    const ahead = (year + 10) % 100;
    const twoDigits = String(ahead).padStart(2, '0');
    const parsed = parseHttpDate(`Monday, 01-Jan-${twoDigits} 00:00:00 GMT`);
    expect(new Date(parsed!).getUTCFullYear()).toBe(year + 10);
    const behind = String((year + 60) % 100).padStart(2, '0');
    const old = parseHttpDate(`Monday, 01-Jan-${behind} 00:00:00 GMT`);
    expect(new Date(old!).getUTCFullYear()).toBe(year - 40);
  });

  it('ignores what is not an HTTP-date', () => {
    for (const value of [
      undefined,
      '',
      '2099',
      '2099-01-01',
      '2001-01-01T00:00:00Z',
      'Sun, 06 Nov 1994 08:49:37 UTC',
      'Sun, 6 Nov 1994 08:49:37 GMT',
      'Sun, 31 Feb 1994 08:49:37 GMT',
      'Sun, 06 Nov 1994 24:00:00 GMT',
      'Sun, 06 Nov 1994 08:60:00 GMT',
      'Sun, 06 Nov 1994 08:49:61 GMT',
      'sun, 06 nov 1994 08:49:37 gmt',
      'Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT',
    ]) {
      expect({ value, parsed: parseHttpDate(value) }).toEqual({ value, parsed: undefined });
    }
  });
});

describe(parseModifiedSince.name, () => {
  const now = Date.UTC(2026, 11, 8, 3, 30, 0);

  it('reads a date up to now, and ignores one later (RFC 9110 13.1.3) or none', () => {
    expect(parseModifiedSince('Tue, 08 Dec 2026 03:30:00 GMT', now)).toBe(now);
    expect(parseModifiedSince('Tue, 08 Dec 2026 03:29:59 GMT', now)).toBe(now - 1000);
    expect(parseModifiedSince('Tue, 08 Dec 2026 03:30:01 GMT', now)).toBeUndefined();
    expect(parseModifiedSince('Fri, 01 Jan 2100 00:00:00 GMT', now)).toBeUndefined();
    expect(parseModifiedSince('2026', now)).toBeUndefined();
    expect(parseModifiedSince(undefined, now)).toBeUndefined();
  });
});
