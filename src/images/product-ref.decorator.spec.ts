import { galleryEtag, parseIfMatch } from './product-ref.decorator';

describe(parseIfMatch.name, () => {
  it.each([
    [undefined, undefined],
    ['*', undefined],
    [' * ', undefined],
    ['"3"', [3]],
    ['"3", "4"', [3, 4]],
    ['"3","4"', [3, 4]],
  ])('%j → %j', (header, versions) => expect(parseIfMatch(header)).toEqual(versions));

  it.each(['W/"3"', '3', '"abc"', '', 'garbage', '"3" junk'])(
    'never matches %j (strong comparison only)',
    (header) => expect(parseIfMatch(header)).toEqual([-1]),
  );

  it('round-trips the ETag it produces', () => {
    expect(parseIfMatch(galleryEtag(42))).toEqual([42]);
  });
});
