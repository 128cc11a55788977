import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { JOB_SCHEMA } from './pg-boss.engine';

/** Settings pg-boss copies from its queue onto each job when the job is queued. */
export interface JobSettings {
  deadLetter?: string;
  heartbeatSeconds?: number;
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
