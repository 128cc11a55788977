import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { JOB_SCHEMA } from '../jobs/pg-boss.engine';

/**
 * The queue of file deletions (its jobs: `{ keys: string[], organization_id?: string }`). A job
 * names the organisation whose files it deletes, so that only its admins see it (see
 * JOB_ORGANIZATION_KEY), whether its request, a rebuild or a sweep released them.
 */
export const FILE_DELETION_QUEUE = 'file-deletion';

/** A job not done: its keys, or null when the caller said it knew them already. */
export interface PendingJob {
  id: string;
  keys: string[] | null;
}

/**
 * Queued file deletions, read where the job queue keeps them: the `keys` of the queue's jobs not
 * done yet (failed ones included: their files may still be there).
 */
@Injectable()
export class FileDeletionsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Whether a job of `queue` not yet completed names a key of this stem (any extension). */
  async isQueued(manager: EntityManager, queue: string, stem: string): Promise<boolean> {
    const [queued] = await manager.query<unknown[]>(
      `SELECT 1 FROM ${JOB_SCHEMA}.job AS j
         CROSS JOIN LATERAL jsonb_array_elements_text(j.data -> 'keys') AS k(key)
        WHERE j.name = $1 AND j.state IN ('created', 'retry', 'active', 'failed')
          AND regexp_replace(k.key, '\\.[a-z0-9]+$', '') = $2
        LIMIT 1`,
      [queue, stem],
    );
    return queued !== undefined;
  }

  /**
   * Every job of `queue` not completed (failed ones included), by id, with its keys unless its id
   * is in `known` (null then: the caller read them before; a job's keys never change). So a
   * backlog's keys are each read once, however long it stays queued, and only its ids again.
   */
  async pendingJobs(queue: string, known: readonly string[]): Promise<PendingJob[]> {
    return this.dataSource.query<PendingJob[]>(
      `SELECT j.id::text AS id,
              CASE WHEN j.id = ANY($2::uuid[]) THEN NULL ELSE j.data -> 'keys' END AS keys
         FROM ${JOB_SCHEMA}.job AS j
        WHERE j.name = $1 AND j.state IN ('created', 'retry', 'active', 'failed')`,
      [queue, known],
    );
  }
}
