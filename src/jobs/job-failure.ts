import { QueryFailedError, TypeORMError } from 'typeorm';
import { AppError } from '../common/errors/app.error';
import { errorStatus } from '../common/errors/error-codes';
import { isDatabaseConnectionLost, isStatementCancelled } from '../database/pg-errors';

/** A SQLSTATE: five digits or upper-case letters. */
const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * What pg-boss keeps of a failed attempt. pg-boss serialises whatever a handler throws, every
 * own property included, as the job's `output`, which the jobs API shows admins: a TypeORM
 * QueryFailedError carries the SQL, all its parameter values (ids, hashes, titles) and the
 * stack, and PostgreSQL's own messages quote offending values. So only a name, a message that
 * is ours and a code are kept; the full error is logged (safely) where the attempt is run.
 */
export class JobFailure extends Error {
  readonly code?: string;

  constructor(name: string, message: string, code?: string) {
    super(message);
    this.name = name;
    if (code) this.code = code;
    // The stack is in the log; stored, it would show our code's layout to whoever reads jobs.
    this.stack = undefined;
  }
}

/** `error` reduced to what may be stored with the job and shown by the jobs API. */
export function jobFailure(error: unknown): JobFailure {
  if (error instanceof AppError) return new JobFailure(error.name, error.detail, error.code);
  const sqlState = sqlStateOf(error);
  const lost = isDatabaseConnectionLost(error);
  if (sqlState || lost || error instanceof TypeORMError) {
    const what = lost ? 'The database connection was lost' : 'A database operation failed';
    // A constraint's name is the schema's, not data: it says which rule the job broke.
    const constraint = constraintOf(error);
    const about = [sqlState && `SQLSTATE ${sqlState}`, constraint && `constraint ${constraint}`];
    const said = about.filter(Boolean).join(', ');
    return new JobFailure(
      nameOf(error),
      said ? `${what} (${said}).` : `${what}.`,
      sqlState ?? (lost ? 'database_unavailable' : undefined),
    );
  }
  const system = systemCallOf(error);
  if (system) {
    // Node's message names the file or address (`open '/srv/…/spool/…'`): the call and code say why.
    return new JobFailure(
      error instanceof Error ? error.name : 'Error',
      `A system call failed (${system.code}, ${system.syscall}).`,
      system.code,
    );
  }
  if (error instanceof Error) return new JobFailure(error.name, withoutDetails(error.message));
  return new JobFailure('Error', withoutDetails(String(error)));
}

/** A URL in a message: `scheme://` and what follows up to a space, quote or bracket. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s'"<>()[\]{}`]+/gi;
/** An absolute file path of two segments or more (`/srv/data/x`), not part of a URL or a key. */
const PATH_IN_TEXT = /(?<![\w/.:-])\/(?:[\w.@+~-]+\/)+[\w.@+~-]*/g;

/**
 * A message of an error that is not ours, as it may be shown: a URL reduced to its origin (its
 * path, query and credentials may carry a signature, a token, a password) and a file path
 * replaced, as the service's own messages never name either.
 */
function withoutDetails(message: string): string {
  return message
    .replace(URL_IN_TEXT, (url) => {
      try {
        const { protocol, host, username, password, pathname, search, hash } = new URL(url);
        if (!host) return '[URL]';
        const bare = !username && !password && pathname === '/' && !search && !hash;
        return bare ? url : `${protocol}//${host}/…`;
      } catch {
        return '[URL]';
      }
    })
    .replace(PATH_IN_TEXT, '[path]');
}

/** A Node system error's call and code (`ENOENT`, `open`), whose message names its path. */
function systemCallOf(error: unknown): { code: string; syscall: string } | undefined {
  const e = error as { code?: unknown; syscall?: unknown } | null;
  return typeof e?.code === 'string' &&
    /^E[A-Z0-9_]+$/.test(e.code) &&
    typeof e.syscall === 'string'
    ? { code: e.code, syscall: e.syscall }
    : undefined;
}

/** Whether the failure is one the service expects and retries (a dependency down), not a fault. */
export function isExpectedJobFailure(error: unknown): boolean {
  if (error instanceof AppError) return errorStatus(error.code) !== 500;
  return isDatabaseConnectionLost(error) || isStatementCancelled(error);
}

/** The SQLSTATE of a TypeORM QueryFailedError or of a node-postgres (or PGlite) error. */
function sqlStateOf(error: unknown): string | undefined {
  const e = error as { code?: unknown; severity?: unknown; driverError?: { code?: unknown } };
  const code =
    error instanceof QueryFailedError
      ? e.driverError?.code
      : typeof e?.severity === 'string'
        ? e.code
        : undefined;
  return typeof code === 'string' && SQLSTATE.test(code) ? code : undefined;
}

function constraintOf(error: unknown): string | undefined {
  const e = error as { constraint?: unknown; driverError?: { constraint?: unknown } };
  const name = e?.driverError?.constraint ?? e?.constraint;
  return typeof name === 'string' ? name : undefined;
}

/** TypeORM's class name; node-postgres names its errors `error`, which says nothing. */
function nameOf(error: unknown): string {
  return error instanceof TypeORMError ? error.name : 'DatabaseError';
}
