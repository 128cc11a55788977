import { versionEtag, parseIfMatch } from './version-etag';

describe(parseIfMatch.name, () => {
  it.each([
    [undefined, undefined],
    ['*', undefined],
    [' * ', undefined],
    // The strong ETag the API sends.
    ['"3"', [3]],
    ['"0"', [0]],
    // The version as bodies show it.
    ['3', [3]],
    [' 3 ', [3]],
    ['0', [0]],
    // Weak tags, as a proxy that re-compresses rewrites them.
    ['W/"3"', [3]],
    // Lists of any of these.
    ['"3", "4"', [3, 4]],
    ['"3","4"', [3, 4]],
    ['3, 4', [3, 4]],
    ['W/"3", 4, "5"', [3, 4, 5]],
    ['"3",, "4",', [3, 4]],
    // An element that is no version never matches, but the others still can.
    ['"abc", "7"', [7]],
    ['"3", junk', [3]],
    ['"1", *', [1]], // `*` stands alone or not at all
  ])('%j → %j', (header, versions) => expect(parseIfMatch(header)).toEqual(versions));

  it.each([
    '',
    ' ',
    'garbage',
    '"abc"',
    '"3" junk',
    '3 4',
    'W/3',
    'w/"3"',
    '"-1"',
    '-1',
    '03',
    '"03"',
    '3.0',
    '"3',
    '3"',
    '"3"4',
    '12345678901234567',
    // Past the largest version read (a bigint sequence, read as a JavaScript number).
    '9007199254740992',
    '"9999999999999999"',
  ])('never matches %j', (header) => expect(parseIfMatch(header)).toEqual([-1]));

  it('keeps the versions a JavaScript number holds exactly, leaving out larger ones', () => {
    expect(parseIfMatch('9999999999999999, "4"')).toEqual([4]);
    expect(parseIfMatch('"9007199254740991"')).toEqual([9007199254740991]);
    expect(parseIfMatch('3000000000')).toEqual([3000000000]);
  });

  it('reads a long header in one pass: spaces before a stray quote no longer backtrack', () => {
    // 2,500 spaces held the event loop for 9 s with the regular expression of before (16 KB, the
    // most Node takes in headers, for hours); one pass takes microseconds. The bound is a
    // thousand times that, so that a busy machine never fails it, and the old code always did.
    const started = performance.now();
    expect(parseIfMatch(`0,${' '.repeat(2_500)}"`)).toEqual([0]);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(parseIfMatch(`${' '.repeat(16_000)}"5"`)).toEqual([5]);
    expect(parseIfMatch(`"a,b", 4, "c,${' '.repeat(16_000)}`)).toEqual([4]);
  });

  it('round-trips the ETag it produces', () => {
    expect(parseIfMatch(versionEtag(42))).toEqual([42]);
    expect(parseIfMatch(versionEtag(42, 'p'), 'p')).toEqual([42]);
  });

  it('takes a prefixed ETag only with its prefix: a product’s "p4" is no gallery’s "4"', () => {
    expect(parseIfMatch('"p4", W/"p5", 6', 'p')).toEqual([4, 5, 6]);
    expect(parseIfMatch('"4"', 'p')).toEqual([-1]);
    expect(parseIfMatch('"p4"')).toEqual([-1]);
  });
});
