/**
 * What of an error may be logged. Database errors carry the query's parameters and PostgreSQL's
 * `detail` (which quotes the offending values): passwords, hashes, emails. Neither is kept.
 */
export interface SafeError {
  name: string;
  message: string;
  code?: string;
  constraint?: string;
  stack?: string;
}

/** The fields of an error that {@link safeError} reads. */
type ErrorLike = {
  name?: unknown;
  message: string;
  stack?: unknown;
  code?: unknown;
  constraint?: unknown;
  driverError?: { code?: unknown; constraint?: unknown };
};

/**
 * An Error, or an object that carries one's message: pg-boss reports a worker's failure as a copy
 * of the error's fields (`{ ...error, message, stack, queue }`), not as an Error, and an error
 * made in another realm (a vm context) is no `instanceof Error` here.
 */
function isErrorLike(value: unknown): value is ErrorLike {
  return (
    value instanceof Error ||
    (typeof value === 'object' &&
      value !== null &&
      typeof (value as { message?: unknown }).message === 'string')
  );
}

export function safeError(error: unknown): SafeError {
  if (!isErrorLike(error)) return { name: typeof error, message: String(error) };
  const code = error.driverError?.code ?? error.code;
  const constraint = error.driverError?.constraint ?? error.constraint;
  return {
    name: typeof error.name === 'string' ? error.name : 'Error',
    message: error.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(typeof constraint === 'string' ? { constraint } : {}),
    ...(typeof error.stack === 'string' && error.stack ? { stack: error.stack } : {}),
  };
}
