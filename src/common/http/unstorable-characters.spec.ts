import {
  LONE_SURROGATE_MESSAGE,
  NUL_MESSAGE,
  unstorableCharacterErrors,
} from './unstorable-characters';

describe(unstorableCharacterErrors.name, () => {
  const message = NUL_MESSAGE;

  it('finds NUL characters in strings, keys and items at any depth', () => {
    expect(
      unstorableCharacterErrors({
        name: 'a\u0000b',
        ok: 'fine',
        tags: ['x', 'y\u0000'],
        nested: { 'ke\u0000y': 1, deeper: { value: '\u0000' } },
        count: 3,
        none: null,
      }),
    ).toEqual([
      { field: 'name', message },
      { field: 'tags.1', message },
      { field: 'nested.ke\\u0000y', message },
      { field: 'nested.deeper.value', message },
    ]);
  });

  it('finds lone surrogates, high or low, in strings and keys; a pair is a character', () => {
    expect(
      unstorableCharacterErrors({
        email: '\ud800@example.com',
        domain: 'a@exa\udfffmple.com',
        reversed: '\udc00\ud800',
        emoji: 'shoe \ud83d\udc5f',
        ['k\ud800']: 'x',
      }),
    ).toEqual([
      // A key is checked when its object is: before the values under it.
      { field: 'k\\ud800', message: LONE_SURROGATE_MESSAGE },
      { field: 'email', message: LONE_SURROGATE_MESSAGE },
      { field: 'domain', message: LONE_SURROGATE_MESSAGE },
      { field: 'reversed', message: LONE_SURROGATE_MESSAGE },
    ]);
    expect(unstorableCharacterErrors('\ud800\u0000', 'both')).toEqual([
      { field: 'both', message: NUL_MESSAGE },
    ]);
  });

  it('names a value that is itself a string by its root', () => {
    expect(unstorableCharacterErrors('x\u0000', 'slug')).toEqual([{ field: 'slug', message }]);
    expect(unstorableCharacterErrors('clean', 'slug')).toEqual([]);
  });

  it('reports at most 20, and walks deep values without recursion', () => {
    const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`f${i}`, '\u0000']));
    expect(unstorableCharacterErrors(many)).toHaveLength(20);
    let deep: unknown = '\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(unstorableCharacterErrors(deep)).toHaveLength(1);
  });
});
