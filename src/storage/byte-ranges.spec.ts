import { ifRangeHolds, usableByteRange } from './byte-ranges';

describe(usableByteRange.name, () => {
  it.each([
    'bytes=0-499',
    'bytes=500-',
    'bytes=-500',
    'bytes=5-5',
    'bytes=0-99999999999999999999999',
  ])('keeps %s', (header) => {
    expect(usableByteRange(header)).toBe(header);
  });

  it.each([
    ['Bytes=0-9', 'bytes=0-9'],
    ['bytes= 0-9 ', 'bytes=0-9'],
    ['bytes=0-99,', 'bytes=0-99'],
    ['bytes=,-5', 'bytes=-5'],
  ])('reads %j as %j', (header, range) => {
    expect(usableByteRange(header)).toBe(range);
  });

  it.each([
    'bytes=abc',
    'bytes=',
    'bytes=-',
    'bytes=9-5',
    'bytes=1-2-3',
    'bytes=+1-2',
    'bytes=0x10-',
    'bytes=1 - 2',
    'items=0-9',
    '0-9',
    'bytes=0-9,abc',
    '',
    // Several ranges: answered whole, on every storage.
    'bytes=0-0,-1',
    'bytes= 0-9 , 20-29',
    'bytes=0-99, 50-149',
  ])('ignores %j', (header) => {
    expect(usableByteRange(header)).toBeUndefined();
  });

  it('reads the first of repeated headers, and nothing from none', () => {
    expect(usableByteRange(['bytes=0-9', 'bytes=abc'])).toBe('bytes=0-9');
    expect(usableByteRange(undefined)).toBeUndefined();
  });
});

describe(ifRangeHolds.name, () => {
  const current = { etag: '"abc"', lastModified: new Date('2026-12-02T10:00:00.750Z') };

  it('holds for the current strong entity tag, or the Last-Modified date to the second', () => {
    expect(ifRangeHolds('"abc"', current)).toBe(true);
    expect(ifRangeHolds('Wed, 02 Dec 2026 10:00:00 GMT', current)).toBe(true);
    // The obsolete forms RFC 9110 (5.6.7) asks a recipient to read too.
    expect(ifRangeHolds('Wednesday, 02-Dec-26 10:00:00 GMT', current)).toBe(true);
    expect(ifRangeHolds('Wed Dec  2 10:00:00 2026', current)).toBe(true);
  });

  it.each([
    ['another entity tag', '"abd"'],
    ['a weak entity tag, even the current one', 'W/"abc"'],
    ['an earlier date', 'Wed, 02 Dec 2026 09:59:59 GMT'],
    ['a later date', 'Wed, 02 Dec 2026 10:00:01 GMT'],
    ['what is not an HTTP-date', '2026-12-02T10:00:00Z'],
    ['a number', '1'],
    ['nothing', ''],
  ])('does not hold for %s', (_what, value) => {
    expect(ifRangeHolds(value, current)).toBe(false);
  });

  it('does not hold when the current validators are weak or unknown', () => {
    expect(ifRangeHolds('W/"abc"', { ...current, etag: 'W/"abc"' })).toBe(false);
    expect(ifRangeHolds('"abc"', { etag: undefined, lastModified: undefined })).toBe(false);
    const date = 'Wed, 02 Dec 2026 10:00:00 GMT';
    expect(ifRangeHolds(date, { etag: '"abc"', lastModified: undefined })).toBe(false);
  });
});
