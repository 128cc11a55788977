import { BadRequestException, HttpException, NotFoundException } from '@nestjs/common';
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
  ])("maps Fastify's %s to %i %s", (fstCode, status, code) => {
    const err = Object.assign(new Error('fastify says'), { code: fstCode, statusCode: status });
    const p = toProblem(err);
    expect(p.status).toBe(status);
    expect(p.body.code).toBe(code);
    expect(p.body.detail).not.toContain('fastify says');
  });

  it('hides everything about an unexpected error', () => {
    const err = new Error('connection to 10.0.0.5 failed: password authentication failed');
    const p = toProblem(err);
    expect(p.status).toBe(500);
    expect(p.unexpected).toBe(true);
    expect(JSON.stringify(p.body)).not.toMatch(/10\.0\.0\.5|password|stack|at /);
    expect(p.body.code).toBe('internal_error');
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
});
