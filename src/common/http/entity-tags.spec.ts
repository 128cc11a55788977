import { noneMatchHolds } from './entity-tags';

describe(noneMatchHolds.name, () => {
  it('compares weakly, through a list, and takes * for any object', () => {
    const etag = '"abc"';
    for (const header of ['"abc"', 'W/"abc"', '"x", W/"abc"', ' * ']) {
      expect({ header, holds: noneMatchHolds(header, etag) }).toEqual({ header, holds: true });
    }
    for (const header of ['"abcd"', '"x", "y"', 'abc', '']) {
      expect({ header, holds: noneMatchHolds(header, etag) }).toEqual({ header, holds: false });
    }
    // A tag may hold commas (RFC 9110 8.8.3): read whole, never cut into the current one.
    expect(noneMatchHolds('"a,b", "abc"', etag)).toBe(true);
    expect(noneMatchHolds('W/"x,y", W/"abc"', etag)).toBe(true);
    for (const header of ['W/"x,y"', '"abc,x"', '"x,abc", "a,"']) {
      expect({ header, holds: noneMatchHolds(header, etag) }).toEqual({ header, holds: false });
    }
    expect(noneMatchHolds('W/"abc"', 'W/"abc"')).toBe(true);
    expect(noneMatchHolds('"abc"', undefined)).toBe(false);
  });
});
