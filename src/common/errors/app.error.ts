import { ERROR_CODES, type ErrorCode } from './error-codes';

export interface FieldError {
  /** The offending field, snake_case as on the wire; nested paths use dots (`renditions.card`). */
  field: string;
  message: string;
}

/**
 * The one error type services throw. It carries a stable code and a human detail, never an HTTP
 * status: the exception filter maps the code's kind to a status and renders problem+json.
 */
export class AppError extends Error {
  readonly title: string;

  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly errors: FieldError[] = [],
    /** Response headers the error implies (`Retry-After`, `WWW-Authenticate`). */
    readonly headers: Record<string, string> = {},
    /** Extra problem members (RFC 9457 extensions), snake_case. */
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = 'AppError';
    this.title = ERROR_CODES[code].title;
  }
}
