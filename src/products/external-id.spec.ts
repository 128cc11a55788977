import { AppError } from '../common/errors/app.error';
import { EXTERNAL_ID_PATTERN_SOURCE, isExternalId, parseExternalId } from './external-id';

describe(isExternalId.name, () => {
  it.each([
    '4711',
    'a',
    'SKU-42_b.c',
    'with space',
    'ünïcödé',
    '😀'.repeat(255), // 255 characters as PostgreSQL counts them (510 UTF-16 units)
    'x'.repeat(255),
    '...',
    '.hidden',
    'a?b#c%d&e',
  ])('accepts %j', (value) => expect(isExternalId(value)).toBe(true));

  it.each([
    '',
    'x'.repeat(256),
    '😀'.repeat(256),
    'a/b',
    '/',
    '.',
    '..',
    'a\u0000b',
    'tab\there',
    'new\nline',
    'del\u007f',
    'c1\u0085',
    'lone\ud800',
    '\udc00',
    4711,
    null,
  ])('refuses %j', (value) => expect(isExternalId(value)).toBe(false));

  it('documents the same rule as a pattern (lengths aside)', () => {
    const documented = new RegExp(EXTERNAL_ID_PATTERN_SOURCE, 'u');
    for (const value of ['4711', 'a b', '...', 'ünï']) expect(documented.test(value)).toBe(true);
    for (const value of ['a/b', '.', '..', 'a\u0000', 'a\u009f']) {
      expect(documented.test(value)).toBe(false);
    }
  });
});

describe(parseExternalId.name, () => {
  it('returns a valid external id unchanged', () => {
    expect(parseExternalId(' 42 ')).toBe(' 42 ');
  });

  it('refuses a malformed one with invalid_external_id on the field', () => {
    const thrown = (value: string): unknown => {
      try {
        parseExternalId(value, 'product_id');
      } catch (e) {
        return e;
      }
      return undefined;
    };
    for (const value of ['a/b', '..', '']) {
      expect(thrown(value)).toBeInstanceOf(AppError);
      expect(thrown(value)).toMatchObject({
        code: 'invalid_external_id',
        errors: [{ field: 'product_id' }],
      });
    }
  });
});
