import { getConstructionPlans, PgBoss } from 'pg-boss';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { markDatabaseConnectionError } from '../database/pg-errors';

/**
 * The one file that imports pg-boss. The rest of the service sees JobQueue (job-queue.service.ts)
 * and the few types below.
 *
 * pg-boss runs on the service's own database through TypeORM's connections rather than a pool of
 * its own: on a server that is one pool to size and watch; on the embedded database it is the only
 * way, since PGlite has one session that the serial pool lends to one caller at a time (a second
 * pool would interleave its statements with a TypeORM transaction's).
 */
export const JOB_SCHEMA = 'pgboss';

export type Engine = PgBoss;
export type JobRecord<T> = {
  id: string;
  data: T;
  retryCount: number;
  signal: AbortSignal;
  /** In a dead letter queue (`<name>-failed`): the id of the job that failed for good. */
  sourceId?: string | null;
};
export type JobState = 'created' | 'retry' | 'active' | 'completed' | 'cancelled' | 'failed';
export interface JobDetails<T> {
  id: string;
  name: string;
  data: T;
  state: JobState;
  retryCount: number;
  retryLimit: number;
  createdOn: Date;
  startedOn: Date | null;
  completedOn: Date | null;
  output: unknown;
}

interface SqlExecutor {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** What TypeORM's postgres driver lends a query runner: a `pg` client, or the serial PGlite's. */
interface DriverConnection {
  query(text: string, values?: unknown[]): Promise<unknown>;
  queryAll?(text: string): Promise<{ rows: unknown[] }>;
}

/**
 * Runs one of pg-boss's statements on a query runner's connection. pg-boss sends several
 * statements in one string (`BEGIN; SELECT pg_advisory_xact_lock(…); … RETURNING …; COMMIT`)
 * and needs the rows of every one of them, which TypeORM's `query()` does not give: node-postgres
 * answers such a string with one result per statement, the embedded database through `queryAll`.
 */
async function runOn(
  runner: QueryRunner,
  text: string,
  values?: unknown[],
): Promise<{ rows: unknown[] }> {
  const connection = (await runner.connect()) as DriverConnection;
  try {
    if ((!values || values.length === 0) && connection.queryAll)
      return await connection.queryAll(text);
    const raw = await connection.query(text, values);
    const results = (Array.isArray(raw) ? raw : [raw]) as { rows?: unknown[] }[];
    return { rows: results.flatMap((result) => result?.rows ?? []) };
  } catch (error) {
    // The driver's own error, not wrapped by TypeORM: marked as the database's, so that a reset
    // socket (ECONNRESET) counts as the database unreachable (logged once a minute, retried)
    // rather than as a fault, as it does for the service's own queries.
    throw markDatabaseConnectionError(error);
  }
}

/** pg-boss's `db` over the DataSource: each statement on a connection of its own, released after. */
export function dataSourceExecutor(dataSource: DataSource): SqlExecutor {
  return {
    executeSql: async (text, values) => {
      const runner = dataSource.createQueryRunner();
      try {
        return await runOn(runner, text, values);
      } catch (error) {
        // A failed `BEGIN; …; COMMIT` string leaves its session inside an aborted transaction;
        // end it before the connection goes back to the pool (a no-op warning otherwise).
        await runner.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        await runner.release();
      }
    },
  };
}

/** pg-boss's `db` inside a TypeORM transaction: a job sent through it commits or rolls back with it. */
export function transactionExecutor(manager: EntityManager): SqlExecutor {
  const runner = manager.queryRunner;
  if (!runner?.isTransactionActive) {
    throw new Error('A job can only be enqueued atomically inside a transaction');
  }
  return { executeSql: (text, values) => runOn(runner, text, values) };
}

/**
 * A stopped engine on the service's database; `start()` upgrades pg-boss's schema if needed.
 * `heartbeatSeconds` is the queues' heartbeat: pg-boss fails the jobs whose heartbeat lapsed in
 * its maintenance pass (as it expires jobs), every 60 s by default (the supervise timer, and the
 * monitor's claim within it), which alone would let a dead worker's job wait up to a minute
 * longer than its heartbeat; the pass runs as often as the heartbeat, when that is shorter.
 */
export function createEngine(
  dataSource: DataSource,
  options: { embedded: boolean; name: string; heartbeatSeconds: number },
): Engine {
  const maintenanceSeconds = Math.min(60, options.heartbeatSeconds);
  return new PgBoss({
    db: dataSourceExecutor(dataSource),
    backend: options.embedded ? 'pglite' : 'postgres',
    schema: JOB_SCHEMA,
    instanceName: options.name,
    superviseIntervalSeconds: maintenanceSeconds,
    monitorIntervalSeconds: maintenanceSeconds,
    // Nobody reads pg-boss's spans unless an OpenTelemetry SDK is registered; say so explicitly.
    openTelemetry: { enabled: false },
  });
}

/**
 * The SQL that installs pg-boss's schema at the version installed with the service (a migration
 * runs it, so that a migrated database has it and migrations may enqueue jobs); pg-boss's own
 * `start()` upgrades it from there. It holds its own BEGIN/COMMIT.
 */
export function jobQueueSchemaSql(): string {
  return getConstructionPlans(JOB_SCHEMA);
}
