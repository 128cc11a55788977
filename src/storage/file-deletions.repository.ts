import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { JOB_SCHEMA } from '../jobs/pg-boss.engine';

/**
 * Queued file deletions, read where the job queue keeps them: the `keys` of the queue's jobs not
 * done yet (failed ones included: their files may still be there).
 */
@Injectable()
export class FileDeletionsRepository {
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
}
