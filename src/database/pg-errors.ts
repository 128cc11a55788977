/** PostgreSQL's error code and the constraint it names, read through TypeORM's wrapper. */
function pgViolation(error: unknown): { code?: string; constraint?: string } {
  const e = error as {
    code?: string;
    constraint?: string;
    driverError?: { code?: string; constraint?: string };
  };
  return {
    code: e?.driverError?.code ?? e?.code,
    constraint: e?.driverError?.constraint ?? e?.constraint,
  };
}

/** PostgreSQL's unique_violation, optionally on one named constraint or index. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const found = pgViolation(error);
  return found.code === '23505' && (constraint === undefined || found.constraint === constraint);
}

/** PostgreSQL's foreign_key_violation on the named constraint. */
export function isForeignKeyViolation(error: unknown, constraint: string): boolean {
  const found = pgViolation(error);
  return found.code === '23503' && found.constraint === constraint;
}

/**
 * Marks errors raised by the service's own PostgreSQL connections (see database-client.ts), so a
 * socket error such as ECONNREFUSED can be told apart from the same error of the storage or of a
 * fetched URL. Symbol.for: the mark survives two copies of this module (Jest, the CLI).
 */
const FROM_DATABASE = Symbol.for('product-images.database-connection-error');

export function markDatabaseConnectionError<E>(error: E): E {
  if (error && typeof error === 'object' && Object.isExtensible(error)) {
    // Enumerable, so that a copy keeps it: pg-boss re-emits its workers' errors as
    // `{ ...error, queue, worker }`.
    Object.defineProperty(error, FROM_DATABASE, { value: true, enumerable: true });
  }
  return error;
}

/**
 * SQLSTATEs of a connection lost or refused by the server: class 08 (connection exception),
 * 57P01-57P03 (terminated by an administrator or a failover, crash, server still starting) and
 * 53300 (no connection slot left, as during a failover's reconnection storm).
 */
const LOST_CONNECTION_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123]|53300)$/;

/**
 * What node-postgres and its pool say, without a code, of a connection that is gone or never came;
 * and TypeORM's two errors of a released query runner: a transaction's runner is released when its
 * connection fails (PostgresQueryRunner listens for the client's error), so the next statement
 * after a connection killed between two of them throws QueryRunnerAlreadyReleasedError (the
 * COMMIT, a query builder's; found by the soak's connection kills) or, sent by
 * `EntityManager.query`, QueryRunnerProviderAlreadyReleasedError (found by a sweep killing the
 * connections every second).
 */
const LOST_CONNECTION_MESSAGE =
  /^(Connection terminated|terminating connection|Client has encountered a connection error|Client was closed and is not queryable|timeout exceeded when trying to connect|Query runner already released|Database connection provided by a query runner was already released)/;

/** Socket errors: only those of a database connection count (a query's, or a marked one). */
const SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

interface ErrorShape {
  code?: unknown;
  message?: unknown;
  driverError?: unknown;
  cause?: unknown;
  [FROM_DATABASE]?: boolean;
}

/**
 * True when `error` says the database connection was lost or could not be made: the server
 * terminated it (pg_terminate_backend, a failover, a restart), the socket broke, or no connection
 * came in time. Looks through TypeORM's QueryFailedError (`driverError`) and `cause`. Pure.
 */
export function isDatabaseConnectionLost(error: unknown): boolean {
  let current = error as ErrorShape | undefined;
  let fromQuery = false;
  for (let depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    const { code, message } = current;
    if (typeof code === 'string') {
      if (LOST_CONNECTION_SQLSTATE.test(code)) return true;
      if (SOCKET_CODES.has(code) && (fromQuery || current[FROM_DATABASE] === true)) return true;
    }
    if (typeof message === 'string' && LOST_CONNECTION_MESSAGE.test(message)) return true;
    // A QueryFailedError's driver error comes from a database connection, whatever it says.
    fromQuery ||= current.driverError !== undefined;
    current = (current.driverError ?? current.cause) as ErrorShape | undefined;
  }
  return false;
}

/**
 * True when PostgreSQL cancelled the statement (SQLSTATE 57014, query_canceled): it ran past
 * `statement_timeout` (DATABASE_STATEMENT_TIMEOUT_MS), a lock wait included, or an operator
 * cancelled it (pg_cancel_backend). The connection itself is fine. Looks through TypeORM's
 * QueryFailedError (`driverError`) and `cause`. Pure.
 */
export function isStatementCancelled(error: unknown): boolean {
  let current = error as ErrorShape | undefined;
  for (let depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    if (current.code === '57014') return true;
    current = (current.driverError ?? current.cause) as ErrorShape | undefined;
  }
  return false;
}
