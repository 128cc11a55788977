import { QueryFailedError } from 'typeorm';
import { safeError } from './safe-error';

describe(safeError.name, () => {
  it('keeps what identifies a database error and drops its parameters and detail', () => {
    const driverError = Object.assign(new Error('duplicate key value violates unique constraint'), {
      code: '23505',
      constraint: 'UQ_users_email',
      detail: 'Key (email)=(alice@example.com) already exists.',
    });
    const error = new QueryFailedError(
      'INSERT INTO users VALUES ($1, $2)',
      ['alice@example.com', '$argon2id$v=19$secret-hash'],
      driverError,
    );
    const safe = safeError(error);
    expect(safe).toMatchObject({
      name: 'QueryFailedError',
      code: '23505',
      constraint: 'UQ_users_email',
    });
    expect(JSON.stringify(safe)).not.toMatch(/alice@example\.com|argon2id|secret-hash/);
  });

  it('handles non-errors', () => {
    expect(safeError('boom')).toEqual({ name: 'string', message: 'boom' });
    expect(safeError(42)).toEqual({ name: 'number', message: '42' });
    expect(safeError(undefined)).toEqual({ name: 'undefined', message: 'undefined' });
    expect(safeError(null)).toEqual({ name: 'object', message: 'null' });
  });

  it('describes a thrown non-Error object by its class and own name and code, never whole', () => {
    // What a library may throw: a plain object, its fields a response's, a secret among them.
    const thrown = { code: 'ERR_BAD_RESPONSE', status: 401, apiKey: 'sk_live_s3cret', body: {} };
    const safe = safeError(thrown);
    expect(safe).toEqual({
      name: 'Object',
      message: 'A non-Error Object was thrown (code ERR_BAD_RESPONSE)',
      code: 'ERR_BAD_RESPONSE',
    });
    expect(JSON.stringify(safe)).not.toMatch(/s3cret|401/);

    class ResponseFailure {
      readonly name = 'UpstreamFailure';
      readonly message = { text: 'not a string' };
      readonly token = 'Bearer s3cret';
    }
    expect(safeError(new ResponseFailure())).toEqual({
      name: 'UpstreamFailure',
      message: 'A non-Error ResponseFailure was thrown (name UpstreamFailure)',
    });
    expect(safeError(Object.create(null))).toEqual({
      name: 'object',
      message: 'A non-Error object without a prototype was thrown',
    });
    expect(safeError(Object.assign(() => undefined, { code: 'E_FN' }))).toMatchObject({
      name: 'Function',
      code: 'E_FN',
    });
  });

  it('bounds what it keeps of a non-Error, and reads no getter', () => {
    const long = 'x'.repeat(10_000);
    const safe = safeError({ code: long, name: long });
    expect(safe.code!.length).toBeLessThanOrEqual(100);
    expect(safe.name.length).toBeLessThanOrEqual(100);
    expect(safe.message.length).toBeLessThanOrEqual(300);
    expect(safeError('y'.repeat(10_000)).message.length).toBeLessThanOrEqual(1000);
    const trap = Object.defineProperty({}, 'code', {
      enumerable: true,
      get: () => {
        throw new Error('read');
      },
    });
    expect(safeError(trap)).toEqual({ name: 'Object', message: 'A non-Error Object was thrown' });
    const hostile = new Proxy(
      {},
      {
        getPrototypeOf: () => {
          throw new Error('trap');
        },
      },
    );
    expect(safeError(hostile)).toEqual({
      name: 'object',
      message: 'A non-Error object was thrown',
    });
  });

  it("reads an error's fields from the copy pg-boss reports a failed job's error as", () => {
    const failure = Object.assign(new Error('connection terminated'), {
      code: '57P01',
      detail: 'Key (email)=(alice@example.com)',
    });
    // What pg-boss's manager emits: not an Error, and "[object Object]" as a string.
    const reported = { ...failure, message: failure.message, stack: failure.stack, queue: 'q' };
    const safe = safeError(reported);
    expect(safe).toEqual({
      name: 'Error',
      message: 'connection terminated',
      code: '57P01',
      stack: failure.stack,
    });
    expect(JSON.stringify(safe)).not.toContain('alice@example.com');
  });
});
