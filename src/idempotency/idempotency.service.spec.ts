import { AppError } from '../common/errors/app.error';
import { parseIdempotencyKey } from './idempotency.service';

describe('parseIdempotencyKey', () => {
  it('takes a bare key as it is, and a quoted one (the draft’s form) unquoted', () => {
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    expect(parseIdempotencyKey(['8e03978e-40d5-43e8-bc93-6894a57f9324'])).toBe(
      '8e03978e-40d5-43e8-bc93-6894a57f9324',
    );
    expect(parseIdempotencyKey(['"8e03978e"'])).toBe('8e03978e');
    expect(parseIdempotencyKey(['"a \\"quoted\\" \\\\ key"'])).toBe('a "quoted" \\ key');
    expect(parseIdempotencyKey(['x'.repeat(255)])).toBe('x'.repeat(255));
  });

  it.each([
    ['empty', ['']],
    ['empty once unquoted', ['""']],
    ['longer than 255 characters', ['x'.repeat(256)]],
    ['not ASCII', ['clé']],
    ['with a control character', ['a\tb']],
    ['sent twice', ['a', 'b']],
  ])('refuses a key %s (400 invalid_idempotency_key)', (_what, values) => {
    let thrown: unknown;
    try {
      parseIdempotencyKey(values);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect(thrown).toMatchObject({ code: 'invalid_idempotency_key' });
  });
});
