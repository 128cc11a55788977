import { HttpException } from '@nestjs/common';
import { isDatabaseConnectionLost, isStatementCancelled } from '../../database/pg-errors';
import { AppError, type FieldError } from './app.error';
import { DependencyFailure } from './dependency-failure';
import { ERROR_CODES, errorStatus, genericCodeForStatus, type ErrorCode } from './error-codes';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const PROBLEM_TYPE_PREFIX = 'urn:product-images:problem:';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  errors: FieldError[];
  request_id?: string;
  [extension: string]: unknown;
}

export interface Problem {
  status: number;
  body: ProblemBody;
  headers: Record<string, string>;
  /** True for faults of the service itself: log them with the stack, never show the cause. */
  unexpected: boolean;
}

/** Fastify's own request errors, by their code, mapped to ours. */
const FASTIFY_CODES: Record<string, { code: ErrorCode; detail: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: {
    code: 'payload_too_large',
    detail: 'The request body is larger than this endpoint accepts.',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: 'unsupported_media_type',
    detail:
      'This endpoint does not accept the Content-Type that was sent: the API takes ' +
      'application/json, and multipart/form-data where a file is uploaded.',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    code: 'malformed_json',
    detail: 'The request body is empty but Content-Type says JSON.',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: 'invalid_content_length',
    detail: 'The Content-Length header does not match the body that was sent.',
  },
  // @fastify/multipart's limits and parse errors.
  FST_REQ_FILE_TOO_LARGE: {
    code: 'file_too_large',
    detail: 'The file is larger than the upload limit.',
  },
  FST_FILES_LIMIT: {
    code: 'too_many_files',
    detail: 'A form takes at most two file parts: send one file, as "image".',
  },
  FST_PARTS_LIMIT: {
    code: 'too_many_parts',
    detail: 'The multipart body has too many parts: at most twelve.',
  },
  FST_FIELDS_LIMIT: {
    code: 'too_many_parts',
    detail: 'The multipart body has too many fields: at most ten text fields.',
  },
  // A field named as a property every object has (constructor, toString, __proto__, …).
  FST_PROTO_VIOLATION: {
    code: 'invalid_multipart',
    detail: 'A part of the form is named as a built-in property (constructor, __proto__, …).',
  },
  // The reader parses a text part typed application/json; this one was not JSON (its own 406).
  FST_INVALID_JSON_FIELD_ERROR: {
    code: 'invalid_multipart',
    detail: 'A text part of the form says it is JSON but is not: send form fields as text.',
  },
  // The client left mid-body: its form is as incomplete as a malformed one.
  FST_MP_PREMATURE_CLOSE: {
    code: 'invalid_multipart',
    detail: 'The connection closed before the multipart body was received.',
  },
  FST_INVALID_MULTIPART_CONTENT_TYPE: {
    code: 'unsupported_media_type',
    detail: 'Send the image as multipart/form-data.',
  },
  FST_ERR_CTP_INVALID_TYPE: {
    code: 'unsupported_media_type',
    detail: 'The Content-Type header is malformed.',
  },
};

function problem(
  code: ErrorCode,
  detail: string,
  errors: FieldError[] = [],
  extensions: Record<string, unknown> = {},
): ProblemBody {
  return {
    type: PROBLEM_TYPE_PREFIX + code,
    title: ERROR_CODES[code].title,
    status: errorStatus(code),
    detail,
    code,
    errors,
    ...extensions,
  };
}

function isFastifyError(e: unknown): e is Error & { code: string; statusCode?: number } {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string';
}

/** Messages Nest and its plugins put in HttpException responses: a string or a list of strings. */
function httpExceptionDetail(exception: HttpException): string {
  const response = exception.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (Array.isArray(message)) return message.map(String).join('; ');
  if (typeof message === 'string') return message;
  return exception.message;
}

/**
 * Maps anything thrown while handling a request to an RFC 9457 problem. Pure: no logging, no I/O.
 * Unknown errors become a bare 500 whose body says nothing about the cause.
 */
export function toProblem(exception: unknown): Problem {
  if (exception instanceof AppError) {
    const body = problem(exception.code, exception.detail, exception.errors, exception.extensions);
    return {
      status: body.status,
      body,
      headers: exception.headers,
      // Thrown on purpose for a known condition (503 server_busy, 502 storage_unavailable, whose
      // cause is logged where it was caught): an outcome, not a fault. Only `internal` is a fault.
      unexpected: ERROR_CODES[exception.code].kind === 'internal',
    };
  }

  // Nest's Fastify adapter hands Fastify's own 4xx errors (a body over the limit, a content type
  // no parser takes) to the filters wrapped in an HttpException, with the error as its cause.
  if (exception instanceof HttpException && isFastifyError(exception.cause)) {
    const known = FASTIFY_CODES[exception.cause.code];
    if (known) return toProblem(exception.cause);
  }

  if (exception instanceof HttpException) return httpExceptionProblem(exception);

  // A failover, a restart or a killed connection: the pool reconnects by itself, so the client is
  // told to retry, and it is an outcome to warn of, not a fault of the service.
  if (isDatabaseConnectionLost(exception)) {
    const body = problem(
      'database_unavailable',
      'The database connection was lost or could not be made; retry shortly.',
    );
    return { status: body.status, body, headers: { 'Retry-After': '5' }, unexpected: false };
  }
  // A statement past DATABASE_STATEMENT_TIMEOUT_MS (a lock held long, an overloaded server) or
  // cancelled by an operator: the connection is fine, and a retry may well succeed.
  if (isStatementCancelled(exception)) {
    const body = problem(
      'database_unavailable',
      'The database did not complete the request in time; retry shortly.',
    );
    return { status: body.status, body, headers: { 'Retry-After': '5' }, unexpected: false };
  }

  if (isFastifyError(exception)) {
    const known = FASTIFY_CODES[exception.code];
    if (known) {
      const body = problem(known.code, known.detail);
      return { status: body.status, body, headers: {}, unexpected: false };
    }
    const status = exception.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const code = genericCodeForStatus(status);
      const body = { ...problem(code, ERROR_CODES[code].title + '.'), status };
      return { status, body, headers: {}, unexpected: false };
    }
  }

  // A storage failure no service mapped (a stream that failed on the way, say): still the
  // storage's, to retry later, not the service's own fault; logged with its cause (unexpected),
  // which no one else logged. Its message is not shown: it may describe the setup.
  if (exception instanceof DependencyFailure) {
    const body = problem(exception.code, `${ERROR_CODES[exception.code].title}; try again later.`);
    return { status: body.status, body, headers: { 'Retry-After': '5' }, unexpected: true };
  }

  const body = problem('internal_error', 'An unexpected error occurred.');
  return { status: 500, body, headers: {}, unexpected: true };
}

/** A Nest HttpException (Nest's own, its plugins', Terminus's) as a problem. */
function httpExceptionProblem(exception: HttpException): Problem {
  const status = exception.getStatus();
  const response = exception.getResponse();
  // @nestjs/terminus answers a failed readiness check with the health report as the response.
  if (status === 503 && typeof response === 'object' && response && 'details' in response) {
    const body = problem('not_ready', 'One or more dependencies are not available.', [], {
      checks: response.details,
    });
    return { status, body, headers: { 'Retry-After': '5' }, unexpected: false };
  }
  const nestRouteMiss = status === 404 && /^Cannot [A-Z]+ /.test(httpExceptionDetail(exception));
  const code = nestRouteMiss ? 'route_not_found' : genericCodeForStatus(status);
  const detail =
    status >= 500
      ? 'An unexpected error occurred.'
      : nestRouteMiss
        ? // The path, not the query: an API key or token a client put there is not echoed.
          `No route matches ${httpExceptionDetail(exception).slice('Cannot '.length).split('?', 1)[0]}.`
        : httpExceptionDetail(exception);
  const body = { ...problem(code, detail), status };
  return { status, body, headers: {}, unexpected: status >= 500 };
}
