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
  if (error instanceof Error) return new JobFailure(error.name, error.message);
  return new JobFailure('Error', String(error));
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
