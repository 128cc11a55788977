import { nulCharacterErrors } from './nul-characters';

describe(nulCharacterErrors.name, () => {
  const message = 'must not contain the NUL character (U+0000)';

  it('finds NUL characters in strings, keys and items at any depth', () => {
    expect(
      nulCharacterErrors({
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

  it('names a value that is itself a string by its root', () => {
    expect(nulCharacterErrors('x\u0000', 'slug')).toEqual([{ field: 'slug', message }]);
    expect(nulCharacterErrors('clean', 'slug')).toEqual([]);
  });

  it('reports at most 20, and walks deep values without recursion', () => {
    const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`f${i}`, '\u0000']));
    expect(nulCharacterErrors(many)).toHaveLength(20);
    let deep: unknown = '\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(nulCharacterErrors(deep)).toHaveLength(1);
  });
});
