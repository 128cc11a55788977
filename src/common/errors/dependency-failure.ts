import type { ErrorCode } from './error-codes';

/**
 * A dependency of the service failed (the image storage unreachable, timed out, refusing): the
 * request was right, and a retry later may succeed. A service maps it to its own AppError where
 * it knows more (and logs the cause there); one that reaches the exception filter unmapped is
 * answered with `code` all the same, not as the service's own fault (`500 internal_error`), and
 * logged with its cause, since nothing else logged it.
 */
export class DependencyFailure extends Error {
  constructor(
    readonly code: Extract<ErrorCode, 'storage_unavailable'>,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DependencyFailure';
  }
}
