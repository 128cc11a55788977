import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { JOB_SCHEMA } from './pg-boss.engine';

/** Settings pg-boss copies from its queue onto each job when the job is queued. */
export interface JobSettings {
  deadLetter?: string;
  heartbeatSeconds?: number;
}

/**
 * Jobs of the queues `$1` waiting or running whose data has key `$2` = `value` (SQL). `data->>$2`
 * is no index's: pg-boss's indexes narrow such a read to the queues' waiting and running jobs,
 * all of which it then reads. `keyed`: the waiting ones are those whose singleton key is `value`
 * (pg-boss's job_i17 holds the waiting jobs by key), the running ones (a few a worker) by their
 * data still; a waiting job queued without that key is not found.
 */
function pendingWhere(value: string, keyed: boolean): string {
  const queues = `name = ANY($1::text[])`;
  if (!keyed)
    return `${queues} AND state IN ('created', 'retry', 'active') AND data->>$2 = ${value}`;
  return `${queues} AND ((state IN ('created', 'retry') AND singleton_key = ${value})
                         OR (state = 'active' AND data->>$2 = ${value}))`;
}

/**
 * Brings the jobs an earlier version queued to their queue's settings. pg-boss copies a queue's
 * dead letter queue and heartbeat onto each job as it is queued, so updating the queue (as
 * JobQueue does at start-up) reaches new jobs only: a job queued before the upgrade would fail
 * for good without reaching its dead letter queue (whose job counts it for its rebuild or
 * import), and a job whose process died would wait out the expiry rather than a heartbeat. Only
 * waiting jobs get a heartbeat: one running now may be on an older instance that sends none.
 */
@Injectable()
export class QueuedJobsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * The turn at which a group's next jobs in queue `name` start, for fair turns between groups
   * (JobQueue.nextTurn): a job's turn is the negative of its priority, and workers take the
   * highest priority first, then the oldest. The turn is the queue's current one (the lowest of
   * its waiting jobs), or, when the group has jobs waiting or running, the one after its last:
   * a group queueing more goes on from where it is, and a new group starts now, not at turn 0
   * ahead of everyone. `key` names the group in the jobs' data (`data->>key = group`).
   */
  async nextTurn(
    manager: EntityManager,
    name: string,
    key: string,
    group: string,
  ): Promise<number> {
    const [row]: { turn: number }[] = await manager.query(
      `SELECT greatest(
                coalesce((SELECT -max(priority) FROM ${JOB_SCHEMA}.job
                           WHERE name = $1 AND state IN ('created', 'retry')), 0),
                coalesce((SELECT 1 - min(priority) FROM ${JOB_SCHEMA}.job
                           WHERE name = $1 AND state IN ('created', 'retry', 'active')
                             AND data->>$2 = $3), 0))::int AS turn`,
      [name, key, group],
    );
    return row.turn;
  }

  /**
   * Whether a job of one of `names` whose data has `key` = `value` is waiting (queued, or for its
   * retry) or running: one that may yet do its work. Read in `manager`'s transaction. `keyed`:
   * the waiting ones by their singleton key (see {@link pendingWhere}).
   */
  async anyPending(
    manager: EntityManager,
    names: string[],
    key: string,
    value: string,
    keyed = false,
  ): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      `SELECT 1 FROM ${JOB_SCHEMA}.job WHERE ${pendingWhere('$3', keyed)} LIMIT 1`,
      [names, key, value],
    );
    return rows.length > 0;
  }

  /**
   * Those of `values` for which no job of one of `names` whose data has `key` = that value is
   * waiting or running (see {@link anyPending}), in one statement.
   */
  async noneLeft(names: string[], key: string, values: string[], keyed = false): Promise<string[]> {
    if (values.length === 0) return [];
    const rows: { value: string }[] = await this.dataSource.query(
      `SELECT v.value FROM unnest($3::text[]) AS v(value)
        WHERE NOT EXISTS (
          SELECT 1 FROM ${JOB_SCHEMA}.job WHERE ${pendingWhere('v.value', keyed)})`,
      [names, key, values],
    );
    return rows.map((row) => row.value);
  }

  /**
   * The distinct values of `field` in the data of the jobs of queue `name` failed for good (that
   * an admin may retry) whose data has `key` = `value`. Read in `manager`'s transaction.
   */
  async failedValues(
    manager: EntityManager,
    name: string,
    key: string,
    value: string,
    field: string,
  ): Promise<string[]> {
    const rows: { value: string }[] = await manager.query(
      `SELECT DISTINCT data->>$4 AS value FROM ${JOB_SCHEMA}.job
        WHERE name = $1 AND state = 'failed' AND data->>$2 = $3 AND data->>$4 IS NOT NULL`,
      [name, key, value, field],
    );
    return rows.map((row) => row.value);
  }

  /**
   * Gives the failed job `id` of queue `name` another retention period of its queue, from now, to
   * be retried: pg-boss deletes a waiting job once its `keep_until` (when it was queued, plus the
   * queue's retention) has passed, and its retry keeps that, so a job queued long before it
   * failed would be deleted while it waits for its worker again. Only while it is failed, where
   * `keep_until` counts for nothing. Returns whether it was.
   */
  async keepForRetry(name: string, id: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `WITH kept AS (
         UPDATE ${JOB_SCHEMA}.job AS j
            SET keep_until = greatest(j.keep_until,
                  greatest(j.start_after, ${JOB_SCHEMA}.job_now())
                    + q.retention_seconds * interval '1 second')
           FROM ${JOB_SCHEMA}.queue AS q
          WHERE j.name = $1 AND j.id = $2::uuid AND j.state = 'failed' AND q.name = j.name
         RETURNING 1)
       SELECT 1 FROM kept`,
      [name, id],
    );
    return rows.length > 0;
  }

  /**
   * The ids of the jobs of queue `name` waiting (queued, or for their retry) with singleton key
   * `key`, locked in `manager`'s transaction: one a worker is taking right now is skipped (it
   * runs), and none of these can be taken until the transaction ends.
   */
  async lockWaiting(manager: EntityManager, name: string, key: string): Promise<string[]> {
    const rows: { id: string }[] = await manager.query(
      `SELECT id FROM ${JOB_SCHEMA}.job
        WHERE name = $1 AND state IN ('created', 'retry') AND singleton_key = $2
          FOR UPDATE SKIP LOCKED`,
      [name, key],
    );
    return rows.map((row) => row.id);
  }

  /** How many jobs of queue `name` took a setting they lacked. */
  async adopt(name: string, settings: JobSettings): Promise<number> {
    if (!settings.deadLetter && !settings.heartbeatSeconds) return 0;
    const rows: unknown[] = await this.dataSource.query(
      `WITH adopted AS (
         UPDATE ${JOB_SCHEMA}.job
            SET dead_letter = coalesce(dead_letter, $2),
                heartbeat_seconds = CASE WHEN state IN ('created', 'retry')
                                         THEN coalesce(heartbeat_seconds, $3::int)
                                         ELSE heartbeat_seconds END
          WHERE name = $1 AND state IN ('created', 'retry', 'active')
            AND (($2::text IS NOT NULL AND dead_letter IS NULL)
                 OR ($3::int IS NOT NULL AND heartbeat_seconds IS NULL
                     AND state IN ('created', 'retry')))
         RETURNING 1)
       SELECT 1 FROM adopted`,
      [name, settings.deadLetter ?? null, settings.heartbeatSeconds ?? null],
    );
    return rows.length;
  }
}
