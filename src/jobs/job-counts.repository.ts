import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { JOB_SCHEMA, type JobState } from './pg-boss.engine';

/** The states a job waits or stays in: the backlog an operator watches, and the failures. */
export const COUNTED_STATES: readonly JobState[] = ['created', 'retry', 'active', 'failed'];

const STATE_LIST = COUNTED_STATES.map((state) => `'${state}'`).join(', ');

/** Jobs of one queue in one state. */
export interface QueueStateCount {
  queue: string;
  state: JobState;
  count: number;
}

/**
 * Counts pg-boss's jobs by queue and state for the metrics, read-only, at each scrape. Exact and
 * current, where pg-boss's own queue counts (getQueues) are refreshed by its monitor once a
 * minute. Only the states of {@link COUNTED_STATES}: pg-boss indexes exactly those (job_i14, on
 * name and state), so the count reads the backlog and the retained failures, never the long tail
 * of completed jobs. Every (queue, state) pair is answered, zero included, so that the series exist
 * before the first job.
 */
@Injectable()
export class JobCountsRepository {
  constructor(private readonly dataSource: DataSource) {}

  async count(queues: string[]): Promise<QueueStateCount[]> {
    const rows: { queue: string; state: JobState; count: number }[] = await this.dataSource.query(
      // The states written out as in the index's predicate, for the planner to match it.
      `SELECT name AS queue, state::text AS state, count(*)::int AS count
         FROM ${JOB_SCHEMA}.job
        WHERE name = ANY($1::text[]) AND state IN (${STATE_LIST})
        GROUP BY name, state`,
      [queues],
    );
    const found = new Map(rows.map((row) => [`${row.queue}\u0000${row.state}`, row.count]));
    return queues.flatMap((queue) =>
      COUNTED_STATES.map((state) => ({
        queue,
        state,
        count: found.get(`${queue}\u0000${state}`) ?? 0,
      })),
    );
  }
}
