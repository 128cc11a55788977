import { usableByteRange } from './byte-ranges';

describe(usableByteRange.name, () => {
  it.each([
    'bytes=0-499',
    'bytes=500-',
    'bytes=-500',
    'bytes=0-0,-1',
    'bytes= 0-9 , 20-29',
    'Bytes=0-9',
    'bytes=5-5',
    'bytes=0-99999999999999999999999',
  ])('keeps %s', (header) => {
    expect(usableByteRange(header)).toBe(header);
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
  ])('ignores %j', (header) => {
    expect(usableByteRange(header)).toBeUndefined();
  });

  it('reads the first of repeated headers, and nothing from none', () => {
    expect(usableByteRange(['bytes=0-9', 'bytes=abc'])).toBe('bytes=0-9');
    expect(usableByteRange(undefined)).toBeUndefined();
  });
});
