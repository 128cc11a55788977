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

/** At most this much of a non-Error's class, `name` or `code` is kept. */
const MAX_FIELD = 80;
/** At most this much of a thrown string (or other primitive) is kept. */
const MAX_PRIMITIVE = 1000;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** An own data property's value when it is a non-empty string, bounded: no getter is run. */
function ownString(value: object, key: string): string | undefined {
  try {
    const found: unknown = Object.getOwnPropertyDescriptor(value, key)?.value;
    return typeof found === 'string' && found ? clip(found, MAX_FIELD) : undefined;
  } catch {
    return undefined; // a Proxy's trap
  }
}

/** The name of the class `value` was made by; null without a prototype; undefined if unknown. */
function className(value: object): string | null | undefined {
  try {
    const prototype = Object.getPrototypeOf(value) as object | null;
    if (prototype === null) return null;
    const made: unknown = Object.getOwnPropertyDescriptor(prototype, 'constructor')?.value;
    return typeof made === 'function' ? ownString(made, 'name') : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A thrown object that is no Error (a library's plain object, a class of its own): its class and
 * its own `name` and `code`, when strings, bounded. Never the object itself, nor any other field:
 * such objects carry requests, responses and their credentials. Its `message` is read only when a
 * string, as an Error's (isErrorLike).
 */
function nonErrorObject(value: object): SafeError {
  const made = className(value);
  const name = ownString(value, 'name');
  const code = ownString(value, 'code');
  const what =
    made === null
      ? 'object without a prototype'
      : (made ?? (typeof value === 'function' ? 'function' : 'object'));
  const parts = [name && `name ${name}`, code && `code ${code}`].filter(Boolean);
  return {
    name: name ?? made ?? typeof value,
    message: `A non-Error ${what} was thrown${parts.length ? ` (${parts.join(', ')})` : ''}`,
    ...(code ? { code } : {}),
  };
}

/** isErrorLike, false for a value whose inspection throws (a hostile Proxy's traps). */
function readsAsError(value: unknown): value is ErrorLike {
  try {
    return isErrorLike(value);
  } catch {
    return false;
  }
}

export function safeError(error: unknown): SafeError {
  if (!readsAsError(error)) {
    if ((typeof error === 'object' && error !== null) || typeof error === 'function') {
      return nonErrorObject(error);
    }
    return { name: typeof error, message: clip(String(error), MAX_PRIMITIVE) };
  }
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
