import { QueryFailedError } from 'typeorm';
import { AppError } from '../common/errors/app.error';
import { isExpectedJobFailure, jobFailure } from './job-failure';

/** What pg-boss stores of a thrown error (serialize-error): its own properties as JSON. */
const stored = (error: Error) =>
  JSON.parse(JSON.stringify(error, Object.getOwnPropertyNames(error))) as Record<string, unknown>;

describe(jobFailure.name, () => {
  it("keeps an AppError's code and detail", () => {
    const error = new AppError('storage_unavailable', 'The image storage did not answer.');
    expect(stored(jobFailure(error))).toEqual({
      name: 'AppError',
      message: 'The image storage did not answer.',
      code: 'storage_unavailable',
    });
    expect(isExpectedJobFailure(error)).toBe(true);
    expect(isExpectedJobFailure(new AppError('internal_error', 'a bug'))).toBe(false);
  });

  it('says a lost connection, not what the query was', () => {
    const driverError = Object.assign(
      new Error('terminating connection due to administrator command'),
      {
        code: '57P01',
        severity: 'FATAL',
      },
    );
    const error = new QueryFailedError(
      'INSERT INTO images VALUES ($1)',
      ['sha-secret'],
      driverError,
    );
    expect(stored(jobFailure(error))).toEqual({
      name: 'QueryFailedError',
      message: 'The database connection was lost (SQLSTATE 57P01).',
      code: '57P01',
    });
    expect(isExpectedJobFailure(error)).toBe(true);
    const gone = jobFailure(new Error('Connection terminated unexpectedly'));
    expect(stored(gone)).toEqual({
      name: 'DatabaseError',
      message: 'The database connection was lost.',
      code: 'database_unavailable',
    });
  });

  it('expects a statement cancelled by its timeout, and says which SQLSTATE', () => {
    const driverError = Object.assign(new Error('canceling statement due to statement timeout'), {
      code: '57014',
      severity: 'ERROR',
    });
    const error = new QueryFailedError('SELECT * FROM images WHERE id = $1', ['x'], driverError);
    expect(isExpectedJobFailure(error)).toBe(true);
    expect(stored(jobFailure(error))).toMatchObject({
      message: 'A database operation failed (SQLSTATE 57014).',
      code: '57014',
    });
    expect(isExpectedJobFailure(new QueryFailedError('SELECT 1', [], new Error('syntax')))).toBe(
      false,
    );
  });

  it("keeps another error's name and message, without its stack or other properties", () => {
    const error = Object.assign(new RangeError('no such rendition'), { payload: 'x' });
    expect(stored(jobFailure(error))).toEqual({ name: 'RangeError', message: 'no such rendition' });
    expect(stored(jobFailure('a string'))).toEqual({ name: 'Error', message: 'a string' });
    expect(isExpectedJobFailure(error)).toBe(false);
  });

  it("keeps no file path, URL path, query or credentials of another's error", () => {
    const system = Object.assign(
      new Error("EACCES: permission denied, open '/srv/pis/data/tmp/original-1234'"),
      { code: 'EACCES', errno: -13, syscall: 'open', path: '/srv/pis/data/tmp/original-1234' },
    );
    expect(stored(jobFailure(system))).toEqual({
      name: 'Error',
      message: 'A system call failed (EACCES, open).',
      code: 'EACCES',
    });
    const signed = new Error(
      'GET https://user:pw@bucket.s3.amazonaws.com/a/b.jpg?X-Amz-Signature=deadbeef failed ' +
        'reading /var/lib/pis/spool/x.import; see http://minio:9000',
    );
    expect(stored(jobFailure(signed))).toEqual({
      name: 'Error',
      message: 'GET https://bucket.s3.amazonaws.com/… failed reading [path]; see http://minio:9000',
    });
    // The service's own messages, storage keys in them included, are kept as they are.
    const own = new Error('Local storage failed writing products/a/b.jpg: EACCES');
    expect(stored(jobFailure(own)).message).toBe(own.message);
    expect(stored(jobFailure(new Error('3 of 5 file deletions failed'))).message).toBe(
      '3 of 5 file deletions failed',
    );
  });
});
