import type { IncomingMessage, ServerResponse } from 'node:http';
import { stdSerializers, type Level } from 'pino';
import type { Options } from 'pino-http';
import { RequestMethod } from '@nestjs/common';
import { Logger, PinoLogger, type Params } from 'nestjs-pino';
import { LogFormat } from '../../config/env.validation';
import type { LoggingConfig } from './logging.config';
import { prettyDestination } from './pretty-lines';
import { redactHeaders, redactUrl } from './redact';
import { outcomeOf } from './request-outcome';

/**
 * Probes polled every few seconds, and Prometheus's scrapes (every 15 s, from each scraper):
 * logged only when they fail, or they would drown the log; a readiness probe that found a
 * dependency down not even then (see requestLogLevel). (Neither is traced: tracing/.)
 */
const PROBE_PATHS = new Set(['/health', '/health/ready', '/metrics']);

/** The problem of a readiness probe that found a dependency down. */
const NOT_READY = 'not_ready';

/** Where the terminal is; a parameter so that tests can pretend to be one. */
export interface LogOutput {
  stream: NodeJS.WritableStream;
  isTTY: boolean;
}

const STDOUT: LogOutput = { stream: process.stdout, isTTY: process.stdout.isTTY === true };

/** `auto` is pretty on a terminal only: CI logs, containers and files get one JSON object a line. */
export function isPretty(format: LogFormat, isTTY: boolean): boolean {
  return format === LogFormat.Pretty || (format === LogFormat.Auto && isTTY);
}

/** The path of a request as the client sent it, whatever a router made of `req.url` since. */
function requestPath(req: IncomingMessage): string {
  const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '';
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

/** The level of a request's log line; `silent` (not logged) for a probe that succeeded. */
export function requestLogLevel(
  req: IncomingMessage,
  res: ServerResponse,
  err?: Error,
): Level | 'silent' {
  if (err) return 'error';
  // A readiness probe refused because a dependency is down: the check's own line says why, once
  // a minute while it lasts (health.controller.ts), not once more per probe whoever sends them.
  if (outcomeOf(res)?.code === NOT_READY && PROBE_PATHS.has(requestPath(req))) return 'silent';
  if (res.statusCode >= 500 && outcomeOf(res)?.expected !== true) return 'error';
  if (res.statusCode >= 400) return 'warn';
  return PROBE_PATHS.has(requestPath(req)) ? 'silent' : 'info';
}

/** pino-http's made-up error of a 5xx ("failed with status code 500"), not the request's own. */
function isSynthetic(res: ServerResponse, error: Error): boolean {
  return error.message === `failed with status code ${res.statusCode}`;
}

/** A 5xx the exception filter found foreseen, carrying only pino-http's made-up error. */
function isForeseen(res: ServerResponse, error: Error): boolean {
  return outcomeOf(res)?.expected === true && isSynthetic(res, error);
}

/** The request line, with the problem's `code` when the answer was one. */
function withProblem(res: ServerResponse, line: Record<string, unknown>): Record<string, unknown> {
  const outcome = outcomeOf(res);
  return outcome ? { ...line, problem: outcome.code } : line;
}

function pinoHttpOptions(config: LoggingConfig): Options {
  return {
    level: config.LOG_LEVEL,
    genReqId: (req: IncomingMessage) => (req as IncomingMessage & { id: string }).id,
    customLogLevel: requestLogLevel,
    customSuccessObject: (_req, res, line: Record<string, unknown>) => withProblem(res, line),
    // pino-http attaches a made-up "failed with status code 5xx" error (its stack points into
    // pino-http) to every 5xx: dropped. A foreseen one (503 server_busy) is an outcome, not an
    // error; an unforeseen one's own error, with its stack, is the exception filter's line.
    customErrorObject: (_req, res, error, line: Record<string, unknown>) => {
      if (!isSynthetic(res, error)) return withProblem(res, line);
      const { err: _synthetic, ...rest } = line;
      return withProblem(res, rest);
    },
    customErrorMessage: (_req, res, error) =>
      isForeseen(res, error) ? 'request completed' : 'request errored',
    // The request and the response as a line shows them, read from Node's own objects: pino-http
    // would first copy each into pino-std-serializers' whole shape (addresses, query, params, and
    // every header of the response), of which a line keeps these few fields, on every request.
    wrapSerializers: false,
    serializers: {
      req: (req: IncomingMessage & { id: string; originalUrl?: string }) => ({
        id: req.id,
        method: req.method,
        url: redactUrl(req.originalUrl || req.url || ''),
        headers: redactHeaders(req.headers),
      }),
      // null until the head is sent: a request aborted before its answer.
      res: (res: ServerResponse) => ({ statusCode: res.headersSent ? res.statusCode : null }),
      err: serializeError,
    },
  };
}

/**
 * pino's error serializer, whose `type` is the class of the object logged: on the plain object
 * safeError answers with (and pg-boss's copy of a failed job's error), "Object" on every line,
 * whatever was thrown. Such an object's `name` is what was thrown: its `type` then.
 */
function serializeError(err: Error): ReturnType<typeof stdSerializers.err> {
  const serialized = stdSerializers.err(err);
  // pino adds each cause's message to the error's: a wrapper that already says it (the database's
  // "… is not usable: connect ECONNREFUSED …") said it twice on one line.
  const cause: unknown = err.cause;
  if (cause instanceof Error && cause.message && err.message?.endsWith(cause.message)) {
    serialized.message = err.message;
  }
  if ((serialized as unknown) !== err && Object.getPrototypeOf(err) === Object.prototype) {
    if (typeof err.name === 'string' && err.name) serialized.type = err.name;
  }
  return serialized;
}

/** The logger's parameters for a configuration, writing to `output`. */
export function buildLoggerParams(config: LoggingConfig, output: LogOutput): Params {
  const options = pinoHttpOptions(config);
  return {
    // Every request, once. nestjs-pino's default route ("{/*splat}", shaped for a global prefix)
    // matches no request at all on Fastify when there is no global prefix.
    forRoutes: [{ path: '{*path}', method: RequestMethod.ALL }],
    pinoHttp: isPretty(config.LOG_FORMAT, output.isTTY)
      ? [options, prettyDestination(output.stream, output.isTTY)]
      : options,
  };
}

/**
 * The parameters of the application's logger, built once per configuration: nestjs-pino makes its
 * one pino instance from the first parameters it is given (the logger of {@link createAppLogger}),
 * and LoggingModule asks again for the same, which must not open a second destination.
 */
const built = new WeakMap<LoggingConfig, Params>();

export function loggerParams(config: LoggingConfig): Params {
  const params = built.get(config) ?? buildLoggerParams(config, STDOUT);
  built.set(config, params);
  return params;
}

/**
 * The application's logger, ready before Nest starts, so that start-up lines are written as they
 * happen, with their own time (buffered lines were all stamped with the time of the flush).
 */
export function createAppLogger(config: LoggingConfig): Logger {
  const params = loggerParams(config);
  return new Logger(new PinoLogger(params), params);
}
