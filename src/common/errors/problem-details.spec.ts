import { BadRequestException, HttpException, NotFoundException } from '@nestjs/common';
import { DatabaseError } from 'pg';
import {
  QueryFailedError,
  QueryRunnerAlreadyReleasedError,
  QueryRunnerProviderAlreadyReleasedError,
} from 'typeorm';
import { markDatabaseConnectionError } from '../../database/pg-errors';
import { StorageError } from '../../storage/storage-provider';
import { AppError } from './app.error';
import { toProblem } from './problem-details';

describe(toProblem.name, () => {
  it('renders an AppError with its code, kind status, field errors and headers', () => {
    const p = toProblem(
      new AppError('validation_failed', 'Invalid value for: title.', [
        { field: 'title', message: 'too long' },
      ]),
    );
    expect(p.status).toBe(400);
    expect(p.body).toEqual({
      type: 'urn:product-images:problem:validation_failed',
      title: 'The request is invalid',
      status: 400,
      detail: 'Invalid value for: title.',
      code: 'validation_failed',
      errors: [{ field: 'title', message: 'too long' }],
    });
    expect(p.unexpected).toBe(false);
  });

  it("maps Nest's route miss to route_not_found", () => {
    const p = toProblem(new NotFoundException('Cannot GET /nope'));
    expect(p.status).toBe(404);
    expect(p.body.code).toBe('route_not_found');
    expect(p.body.detail).toBe('No route matches GET /nope.');
  });

  it('maps other HTTP exceptions to the generic code of their status', () => {
    expect(toProblem(new BadRequestException('nope')).body).toMatchObject({
      code: 'bad_request',
      status: 400,
      detail: 'nope',
    });
    expect(toProblem(new HttpException('slow down', 429)).body.code).toBe('too_many_requests');
  });

  it.each([
    ['FST_ERR_CTP_BODY_TOO_LARGE', 413, 'payload_too_large'],
    ['FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, 'unsupported_media_type'],
    ['FST_ERR_CTP_EMPTY_JSON_BODY', 400, 'malformed_json'],
    ['FST_PROTO_VIOLATION', 400, 'invalid_multipart'],
    ['FST_MP_PREMATURE_CLOSE', 400, 'invalid_multipart'],
  ])("maps Fastify's %s to %i %s", (fstCode, status, code) => {
    const err = Object.assign(new Error('fastify says'), { code: fstCode, statusCode: status });
    const p = toProblem(err);
    expect(p.status).toBe(status);
    expect(p.body.code).toBe(code);
    expect(p.body.detail).not.toContain('fastify says');
    expect(p.unexpected).toBe(false);
  });

  it("answers @fastify/multipart's text part that is not the JSON it says (its 406) with 400", () => {
    const err = Object.assign(new Error('not JSON'), {
      code: 'FST_INVALID_JSON_FIELD_ERROR',
      statusCode: 406,
    });
    const p = toProblem(err);
    expect(p.status).toBe(400);
    expect(p.body).toMatchObject({
      code: 'invalid_multipart',
      detail: expect.stringMatching(/JSON/),
    });
  });

  it('hides everything about an unexpected error', () => {
    const err = new Error('connection to 10.0.0.5 failed: password authentication failed');
    const p = toProblem(err);
    expect(p.status).toBe(500);
    expect(p.unexpected).toBe(true);
    expect(JSON.stringify(p.body)).not.toMatch(/10\.0\.0\.5|password|stack|at /);
    expect(p.body.code).toBe('internal_error');
  });

  it('answers a storage failure no service mapped 502 storage_unavailable, its cause unshown', () => {
    const err = new StorageError('reading products/a.png from https://10.0.0.5:9000 failed', {
      cause: new Error('read ECONNRESET'),
    });
    const p = toProblem(err);
    expect(p).toMatchObject({ status: 502, headers: { 'Retry-After': '5' }, unexpected: true });
    expect(p.body).toMatchObject({ status: 502, code: 'storage_unavailable' });
    expect(JSON.stringify(p.body)).not.toMatch(/10\.0\.0\.5|ECONNRESET|products\/a/);
  });

  it('turns a failed readiness report into not_ready with the checks', () => {
    const report = {
      status: 'error',
      info: {},
      error: {},
      details: { database: { status: 'down' } },
    };
    const p = toProblem(new HttpException(report, 503));
    expect(p.status).toBe(503);
    expect(p.body.code).toBe('not_ready');
    expect(p.body.checks).toEqual({ database: { status: 'down' } });
    expect(p.headers['Retry-After']).toBe('5');
  });

  describe('a lost database connection', () => {
    /** The error node-postgres builds from the server's ErrorResponse. */
    function serverError(code: string, message: string): DatabaseError {
      const error = new DatabaseError(message, message.length, 'error');
      error.code = code;
      error.severity = 'FATAL';
      return error;
    }
    const socketError = (code: string) =>
      Object.assign(new Error(`connect ${code} 10.0.0.5:5432`), { code, syscall: 'connect' });

    it.each([
      [
        '57P01 (pg_terminate_backend, failover)',
        serverError('57P01', 'terminating connection due to administrator command'),
      ],
      [
        '57P02 (crash)',
        serverError('57P02', 'terminating connection because of crash of another server process'),
      ],
      ['57P03 (starting up)', serverError('57P03', 'the database system is starting up')],
      ['class 08', serverError('08006', 'connection failure')],
      ['53300 (no slot)', serverError('53300', 'sorry, too many clients already')],
      ["node-postgres's dead socket", new Error('Connection terminated unexpectedly')],
      [
        "node-postgres's connect timeout",
        new Error('Connection terminated due to connection timeout'),
      ],
      [
        'a client no longer queryable',
        new Error('Client has encountered a connection error and is not queryable'),
      ],
      ["the pool's checkout timeout", new Error('timeout exceeded when trying to connect')],
      [
        'a QueryFailedError wrapping 57P01',
        new QueryFailedError(
          'COMMIT',
          [],
          serverError('57P01', 'terminating connection due to administrator command'),
        ),
      ],
      [
        'a QueryFailedError wrapping a dead socket',
        new QueryFailedError('SELECT 1', [], new Error('Connection terminated unexpectedly')),
      ],
      [
        'a QueryFailedError wrapping ECONNRESET',
        new QueryFailedError('SELECT 1', [], socketError('ECONNRESET')),
      ],
      [
        "the database client's refused connection",
        markDatabaseConnectionError(socketError('ECONNREFUSED')),
      ],
      [
        "a copy of a marked socket error, as pg-boss's workers re-emit theirs",
        { ...markDatabaseConnectionError(socketError('ECONNRESET')), queue: 'file-deletion' },
      ],
      [
        'the COMMIT of a transaction whose connection was killed (TypeORM released its runner)',
        new QueryRunnerAlreadyReleasedError(),
      ],
      [
        'the next EntityManager.query of a transaction whose connection was killed',
        new QueryRunnerProviderAlreadyReleasedError(),
      ],
      [
        'an error caused by one',
        new Error('work failed', { cause: serverError('57P01', 'terminating connection') }),
      ],
    ])('answers 503 database_unavailable with Retry-After for %s', (_, error) => {
      const p = toProblem(error);
      expect(p.status).toBe(503);
      expect(p.body).toMatchObject({ status: 503, code: 'database_unavailable' });
      expect(p.headers['Retry-After']).toMatch(/^\d+$/);
      // A foreseen outcome: warned of by the request's log line, not logged as a fault.
      expect(p.unexpected).toBe(false);
      expect(JSON.stringify(p.body)).not.toMatch(/10\.0\.0\.5|terminating|administrator|SELECT/);
    });

    it.each([
      ['an unmarked ECONNREFUSED (storage, a fetched URL)', socketError('ECONNREFUSED')],
      ['an unmarked ECONNRESET', socketError('ECONNRESET')],
      [
        'a unique violation',
        new QueryFailedError('INSERT', [], serverError('23505', 'duplicate key')),
      ],
      ['a wrong password', serverError('28P01', 'password authentication failed for user "x"')],
    ])('leaves %s alone', (_, error) => {
      expect(toProblem(error).body.code).not.toBe('database_unavailable');
    });

    it.each([
      ['the server', serverError('57014', 'canceling statement due to statement timeout')],
      [
        'TypeORM',
        new QueryFailedError(
          'SELECT * FROM "products" WHERE id = $1',
          ['x'],
          serverError('57014', 'canceling statement due to statement timeout'),
        ),
      ],
    ])(
      'answers 503 database_unavailable with Retry-After for a statement cancelled by its timeout, as %s reports it',
      (_, error) => {
        const p = toProblem(error);
        expect(p).toMatchObject({ status: 503, unexpected: false });
        expect(p.body).toMatchObject({
          code: 'database_unavailable',
          detail: 'The database did not complete the request in time; retry shortly.',
        });
        expect(p.headers['Retry-After']).toMatch(/^\d+$/);
        expect(JSON.stringify(p.body)).not.toMatch(/SELECT|products|canceling/);
      },
    );
  });
});
