import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { JOB_SCHEMA } from '../jobs/pg-boss.engine';

/**
 * The queue of file deletions (its jobs: `{ keys: string[], organization_id?: string }`). A job
 * names the organisation whose files it deletes, so that only its admins see it (see
 * JOB_ORGANIZATION_KEY), whether its request, a rebuild or a sweep released them.
 */
export const FILE_DELETION_QUEUE = 'file-deletion';

/** A job not done, and the keys it deletes. */
export interface PendingJob {
  id: string;
  keys: string[];
}

/** The states of a job not done: failed ones included, their files may still be there. */
const NOT_DONE = `('created', 'retry', 'active', 'failed')`;

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
        WHERE j.name = $1 AND j.state IN ${NOT_DONE}
          AND regexp_replace(k.key, '\\.[a-z0-9]+$', '') = $2
        LIMIT 1`,
      [queue, stem],
    );
    return queued !== undefined;
  }

  /**
   * The id of every job of `queue` not completed (failed ones included), however many: nothing
   * sent but the queue's name, whatever the caller knows already.
   */
  async pendingIds(queue: string): Promise<string[]> {
    const rows = await this.dataSource.query<{ id: string }[]>(
      `SELECT j.id::text AS id FROM ${JOB_SCHEMA}.job AS j
        WHERE j.name = $1 AND j.state IN ${NOT_DONE}`,
      [queue],
    );
    return rows.map(({ id }) => id);
  }

  /**
   * The keys of the jobs of `queue` not completed: all of them, or those of `ids` (listed by
   * {@link pendingIds}) still not completed, one done since left out. A job's keys never change,
   * so each is read once.
   */
  async pendingJobs(queue: string, ids?: readonly string[]): Promise<PendingJob[]> {
    const rows = await this.dataSource.query<{ id: string; keys: string[] | null }[]>(
      `SELECT j.id::text AS id, j.data -> 'keys' AS keys FROM ${JOB_SCHEMA}.job AS j
        WHERE j.name = $1 AND ($2::uuid[] IS NULL OR j.id = ANY($2::uuid[]))
          AND j.state IN ${NOT_DONE}`,
      [queue, ids ?? null],
    );
    return rows.map(({ id, keys }) => ({ id, keys: keys ?? [] }));
  }
}
