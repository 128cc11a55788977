import { preconditionFails } from './preconditions';

describe(preconditionFails.name, () => {
  const current = { etag: '"abc"', lastModified: new Date('2026-12-02T10:00:00.750Z') };
  const fails = (headers: Record<string, string>) => preconditionFails(headers, current);

  it('passes without a precondition', () => {
    expect(fails({})).toBe(false);
  });

  it('passes If-Match naming the current tag (in a list too), or *', () => {
    expect(fails({ 'if-match': '"abc"' })).toBe(false);
    expect(fails({ 'if-match': '"x", "abc"' })).toBe(false);
    expect(fails({ 'if-match': '*' })).toBe(false);
  });

  it('reads tags with commas inside their quotes whole (RFC 9110 8.8.3)', () => {
    expect(fails({ 'if-match': 'W/"x,y", "a,b", "abc"' })).toBe(false);
    expect(fails({ 'if-match': 'W/"x,y"' })).toBe(true);
    expect(fails({ 'if-match': '"abc,x", "x,abc"' })).toBe(true);
  });

  it('fails If-Match naming another tag, or the current one weakly', () => {
    expect(fails({ 'if-match': '"x"' })).toBe(true);
    expect(fails({ 'if-match': 'W/"abc"' })).toBe(true);
    expect(preconditionFails({ 'if-match': 'W/"abc"' }, { ...current, etag: 'W/"abc"' })).toBe(
      true,
    );
  });

  it('fails If-Unmodified-Since before the last change, and passes it at or after', () => {
    expect(fails({ 'if-unmodified-since': 'Wed, 02 Dec 2026 09:59:59 GMT' })).toBe(true);
    expect(fails({ 'if-unmodified-since': 'Wed, 02 Dec 2026 10:00:00 GMT' })).toBe(false);
    expect(fails({ 'if-unmodified-since': 'Thu, 03 Dec 2026 10:00:00 GMT' })).toBe(false);
  });

  it('ignores If-Unmodified-Since when If-Match is there, or when it is not a date', () => {
    const old = 'Mon, 01 Jan 2001 00:00:00 GMT';
    expect(fails({ 'if-match': '"abc"', 'if-unmodified-since': old })).toBe(false);
    expect(fails({ 'if-unmodified-since': 'yesterday' })).toBe(false);
  });
});
