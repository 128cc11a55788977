import { randomSlugCandidate, SLUG_MAX_LENGTH, SLUG_PATTERN, slugCandidate, slugify } from './slug';

describe(slugify.name, () => {
  it.each([
    ['Crème Brûlée 250 g', 'creme-brulee-250-g'],
    ['  Hello,   World!  ', 'hello-world'],
    ['Ünïcödé', 'unicode'],
    // Letters that do not decompose, and other scripts: transliterated, not dropped.
    ['Straße Größe', 'strasse-grosse'],
    ['Ægir Øl', 'aegir-ol'],
    ['İstanbul ıspanak', 'istanbul-ispanak'],
    ['Молоко 3,2 %', 'moloko-3-2'],
    ['日本語', 'ribenyu'],
    ['e\u0301clair', 'eclair'],
    ['---', 'product'],
  ])('%j → %j', (name, slug) => {
    expect(slugify(name)).toBe(slug);
    expect(slugify(name)).toMatch(SLUG_PATTERN);
  });

  it('stays within the length limit without a trailing dash', () => {
    const slug = slugify('a'.repeat(99) + ' b c');
    expect(slug.length).toBeLessThanOrEqual(SLUG_MAX_LENGTH);
    expect(slug).toMatch(SLUG_PATTERN);
  });
});

describe(slugCandidate.name, () => {
  it('numbers alternatives within the limit', () => {
    expect(slugCandidate('mug', 1)).toBe('mug');
    expect(slugCandidate('mug', 2)).toBe('mug-2');
    const long = slugCandidate('a'.repeat(SLUG_MAX_LENGTH), 12);
    expect(long).toHaveLength(SLUG_MAX_LENGTH);
    expect(long.endsWith('-12')).toBe(true);
  });
});

describe(randomSlugCandidate.name, () => {
  it('adds a random suffix within the limit', () => {
    const one = randomSlugCandidate('mug');
    expect(one).toMatch(/^mug-[0-9a-z]{7}$/);
    expect(randomSlugCandidate('mug')).not.toBe(one);
    const long = randomSlugCandidate('a'.repeat(SLUG_MAX_LENGTH));
    expect(long.length).toBeLessThanOrEqual(SLUG_MAX_LENGTH);
    expect(long).toMatch(SLUG_PATTERN);
  });
});
