import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { LogFormat, validateEnv } from '../../config/env.validation';
import type { Options } from 'pino-http';
import { buildLoggerParams, isPretty, loggerParams, requestLogLevel } from './logger-params';
import { recordOutcome } from './request-outcome';
import { safeError } from './safe-error';

describe(isPretty.name, () => {
  it.each([
    [LogFormat.Auto, true, true],
    [LogFormat.Auto, false, false],
    [LogFormat.Json, true, false],
    [LogFormat.Json, false, false],
    [LogFormat.Pretty, true, true],
    [LogFormat.Pretty, false, true],
  ])('%s with a terminal: %s -> pretty: %s', (format, isTTY, pretty) => {
    expect(isPretty(format, isTTY)).toBe(pretty);
  });
});

describe(requestLogLevel.name, () => {
  // After a router mounted at a path has had it, req.url is "/": the path is in originalUrl.
  const req = (originalUrl: string): IncomingMessage =>
    ({ url: '/', originalUrl }) as unknown as IncomingMessage;
  const res = (statusCode: number): ServerResponse => ({ statusCode }) as ServerResponse;

  it('silences probes that succeed, whatever their query', () => {
    expect(requestLogLevel(req('/health'), res(200))).toBe('silent');
    expect(requestLogLevel(req('/health/ready?verbose=1'), res(200))).toBe('silent');
  });

  it('silences metrics scrapes that succeed, and logs one refused', () => {
    // Prometheus scrapes every 15 s, from every scraper, on every instance: not news either.
    expect(requestLogLevel(req('/metrics'), res(200))).toBe('silent');
    expect(requestLogLevel(req('/metrics'), res(401))).toBe('warn');
  });

  it('logs a probe that fails', () => {
    expect(requestLogLevel(req('/health/ready'), res(503))).toBe('error');
  });

  it('leaves a readiness probe that found a dependency down to its check, which says why', () => {
    // Public, and asked by every load balancer: one line per probe was as many as anyone liked.
    const notReady = res(503);
    recordOutcome(notReady, { code: 'not_ready', expected: true });
    expect(requestLogLevel(req('/health/ready'), notReady)).toBe('silent');
    const elsewhere = res(503);
    recordOutcome(elsewhere, { code: 'not_ready', expected: true });
    expect(requestLogLevel(req('/api/v1/products'), elsewhere)).toBe('warn');
  });

  it('logs every other request by its outcome', () => {
    expect(requestLogLevel(req('/api/v1/products'), res(200))).toBe('info');
    expect(requestLogLevel(req('/media/products/p1/a.webp'), res(304))).toBe('info');
    expect(requestLogLevel(req('/healthz'), res(404))).toBe('warn');
    expect(requestLogLevel(req('/api/v1/products'), res(200), new Error('x'))).toBe('error');
  });
});

describe(buildLoggerParams.name, () => {
  const output = (isTTY: boolean) => ({ stream: new PassThrough(), isTTY });

  it('writes JSON to a pipe, and mounts its middleware once for every route', () => {
    const params = buildLoggerParams(validateEnv({}), output(false));
    expect(Array.isArray(params.pinoHttp)).toBe(false);
    expect(params.forRoutes).toHaveLength(1);
  });

  it('writes readable lines to a terminal, or anywhere when asked', () => {
    expect(Array.isArray(buildLoggerParams(validateEnv({}), output(true)).pinoHttp)).toBe(true);
    const forced = buildLoggerParams(validateEnv({ LOG_FORMAT: 'pretty' }), output(false));
    expect(Array.isArray(forced.pinoHttp)).toBe(true);
  });

  it("drops pino-http's made-up error from a 5xx line; a foreseen one is a completed request", () => {
    const options = buildLoggerParams(validateEnv({}), output(false)).pinoHttp as Options;
    const line = (status: number, expected?: boolean) => {
      const res = { statusCode: status } as ServerResponse;
      if (expected !== undefined) recordOutcome(res, { code: 'x', expected });
      const error = new Error(`failed with status code ${status}`);
      const req = {} as IncomingMessage;
      return {
        object: options.customErrorObject!(req, res, error, { err: error, res }),
        message: options.customErrorMessage!(req, res, error),
      };
    };
    // An unforeseen 500: the filter logged its real error and stack; the line names the problem.
    expect(line(500, false).object).toEqual({ res: expect.anything(), problem: 'x' });
    expect(line(500, false).message).toBe('request errored');
    expect(line(503, true)).toEqual({
      object: { res: expect.anything(), problem: 'x' },
      message: 'request completed',
    });
    // A real error pino-http was given stays.
    const res = { statusCode: 500 } as ServerResponse;
    const real = new Error('socket hang up');
    expect(options.customErrorObject!({} as IncomingMessage, res, real, { err: real })).toEqual({
      err: real,
    });
  });

  it("types safeError's answer by what was thrown, not by its own plain object", () => {
    const options = buildLoggerParams(validateEnv({}), output(false)).pinoHttp as Options;
    const err = (value: unknown) =>
      (options.serializers!.err as (e: unknown) => Record<string, unknown>)(value);
    expect(err(safeError({ code: 'E_LIMIT', secret: 's3cret' }))).toMatchObject({
      type: 'Object',
      name: 'Object',
      code: 'E_LIMIT',
      message: 'A non-Error Object was thrown (code E_LIMIT)',
    });
    class RateLimited {
      readonly status = 429;
    }
    expect(err(safeError(new RateLimited()))).toMatchObject({ type: 'RateLimited' });
    expect(err(safeError(new TypeError('bad')))).toMatchObject({ type: 'TypeError' });
    // An error logged as it is keeps its class.
    expect(err(new RangeError('far'))).toMatchObject({ type: 'RangeError', message: 'far' });
  });

  it("says a cause's message once when the error's own message already ends with it", () => {
    const options = buildLoggerParams(validateEnv({}), output(false)).pinoHttp as Options;
    const err = (value: unknown) =>
      (options.serializers!.err as (e: unknown) => Record<string, unknown>)(value);
    const refused = new Error('connect ECONNREFUSED 127.0.0.1:5999');
    const wrapped = new Error(`Database (DATABASE_URL) is not usable: ${refused.message}`, {
      cause: refused,
    });
    expect(err(wrapped).message).toBe(wrapped.message);
    // A cause the message does not say is still added to it, as pino does.
    expect(err(new Error('Upload failed', { cause: refused })).message).toBe(
      'Upload failed: connect ECONNREFUSED 127.0.0.1:5999',
    );
  });

  it('is built once per configuration', () => {
    const env = validateEnv({});
    expect(loggerParams(env)).toBe(loggerParams(env));
  });
});
