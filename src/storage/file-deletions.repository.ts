import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { JOB_SCHEMA } from '../jobs/pg-boss.engine';

/**
 * The queue of file deletions (its jobs: `{ keys: string[], organization_id?: string }`). A job
 * names the organisation whose files it deletes, so that only its admins see it (see
 * JOB_ORGANIZATION_KEY), whether its request, a rebuild or a sweep released them.
 */
export const FILE_DELETION_QUEUE = 'file-deletion';

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
   * The keys of the jobs of `queue` not completed (failed ones included), of at most `jobs` jobs:
   * those that failed an attempt first, then the newest.
   */
  async pendingKeys(queue: string, jobs: number): Promise<string[]> {
    const rows = await this.dataSource.query<{ key: string }[]>(
      `SELECT DISTINCT k.key FROM (
         SELECT j.data FROM ${JOB_SCHEMA}.job AS j
          WHERE j.name = $1 AND j.state IN ('created', 'retry', 'active', 'failed')
          ORDER BY (j.retry_count > 0 OR j.state = 'failed') DESC, j.created_on DESC
          LIMIT $2) AS j
        CROSS JOIN LATERAL jsonb_array_elements_text(j.data -> 'keys') AS k(key)`,
      [queue, jobs],
    );
    return rows.map((row) => row.key);
  }
}
