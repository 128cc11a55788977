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
    expect(safeError({ no: 'message' })).toEqual({ name: 'object', message: '[object Object]' });
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
