import { Logger } from '@nestjs/common';
import { AppError } from '../common/errors/app.error';
import { CONSOLE_UPLOADS_KEPT_HOURS } from './console-uploads';
import type { IdempotencyKeysRepository } from './idempotency-keys.repository';
import { IdempotencyService, parseIdempotencyKey } from './idempotency.service';

describe('IdempotencyService at start-up', () => {
  afterEach(() => jest.restoreAllMocks());

  /** The warnings logged as the service is made with IDEMPOTENCY_KEY_TTL_HOURS `hours`. */
  function warningsWith(hours: number): unknown[][] {
    // A spy on the logger's output, not a stand-in: the line is what is under test.
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const config = { IDEMPOTENCY_KEY_TTL_HOURS: hours, IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS: 1800 };
    new IdempotencyService(config, {} as IdempotencyKeysRepository);
    return warn.mock.calls;
  }

  it('warns when keys are not kept longer than the console keeps unanswered uploads', () => {
    expect(CONSOLE_UPLOADS_KEPT_HOURS).toBe(20);
    for (const hours of [20, 1]) {
      expect(warningsWith(hours)).toEqual([
        [
          `IDEMPOTENCY_KEY_TTL_HOURS is ${hours}, not above the 20 hours the web console keeps ` +
            'an unanswered upload to retry it with its Idempotency-Key: a retry after the key ' +
            'expired can store the image a second time. Set it above 20 (the default is 24).',
        ],
      ]);
      jest.restoreAllMocks();
    }
  });

  it("says nothing when keys outlive the console's uploads", () => {
    expect(warningsWith(21)).toEqual([]);
    expect(warningsWith(24)).toEqual([]);
  });
});

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
