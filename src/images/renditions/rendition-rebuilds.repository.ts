import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import {
  ACTIVE_STATES,
  RebuildState,
  RenditionRebuild,
  type RebuildTrigger,
} from './rendition-rebuild.entity';

/** Serialises starting runs across instances (with UQ_rendition_rebuilds_active as the rule). */
const START_LOCK = "hashtext('rendition-rebuilds:start')";

/** Whether a run's counters reach its total once `done` and `failed` are counted: then it is over. */
const FINISHED = `"done" + "failed" >= "total"`;

/**
 * Rebuild runs as rows: starting one (at most one under way), their progress, and the counters
 * jobs add to. Methods that take an EntityManager run in the caller's transaction.
 */
@Injectable()
export class RenditionRebuildsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Until the transaction ends, no other instance starts or supersedes a run. */
  async lockStarts(manager: EntityManager): Promise<void> {
    await manager.query(`SELECT pg_advisory_xact_lock(${START_LOCK})`);
  }

  findActive(manager: EntityManager): Promise<RenditionRebuild | null> {
    return manager
      .createQueryBuilder(RenditionRebuild, 'r')
      .where('r.state IN (:...states)', { states: ACTIVE_STATES })
      .setLock('pessimistic_write')
      .getOne();
  }

  find(id: string, manager: EntityManager = this.dataSource.manager) {
    return manager.findOneBy(RenditionRebuild, { id });
  }

  /** The newest run, if any. */
  async newest(manager: EntityManager): Promise<RenditionRebuild | undefined> {
    const [run] = await manager.find(RenditionRebuild, {
      order: { createdAt: 'DESC', id: 'DESC' },
      take: 1,
    });
    return run;
  }

  /** A page of runs, newest first, and how many there are. */
  page(offset: number, limit: number): Promise<[RenditionRebuild[], number]> {
    return this.dataSource.manager.findAndCount(RenditionRebuild, {
      order: { createdAt: 'DESC', id: 'DESC' },
      skip: offset,
      take: limit,
    });
  }

  /** The run, locked until the transaction ends (planning holds it while it queues a page). */
  lock(manager: EntityManager, id: string): Promise<RenditionRebuild | null> {
    return manager
      .createQueryBuilder(RenditionRebuild, 'r')
      .where('r.id = :id', { id })
      .setLock('pessimistic_write')
      .getOne();
  }

  create(
    manager: EntityManager,
    renditionSet: string,
    trigger: RebuildTrigger,
  ): Promise<RenditionRebuild> {
    return manager.save(manager.create(RenditionRebuild, { renditionSet, trigger }));
  }

  async supersede(manager: EntityManager, id: string): Promise<void> {
    await manager.query(
      `UPDATE rendition_rebuilds SET state = $2, finished_at = now(), updated_at = now()
        WHERE id = $1`,
      [id, RebuildState.Superseded],
    );
    await this.forgetCounted(manager, id, { keepFailed: false });
  }

  /**
   * A running run none of whose jobs may still run, with images it never counted (their jobs
   * deleted unrun, or failed for good with the job that counts them): over, those images counted
   * failed, as their renditions stay. `retryable` are the images whose jobs failed for good and
   * may still be retried by an admin: they are kept as counted failed, as any image counted
   * failed is, so that such a retry that re-makes one moves it to done (see count).
   */
  async closeStalled(manager: EntityManager, id: string, retryable: string[]): Promise<void> {
    const rows = await manager.query<unknown[]>(
      `WITH closed AS (
         UPDATE rendition_rebuilds
            SET failed = total - done, state = $2, finished_at = now(), updated_at = now()
          WHERE id = $1 AND state = $3
         RETURNING 1)
       SELECT 1 FROM closed`,
      [id, RebuildState.Completed, RebuildState.Running],
    );
    if (rows.length > 0 && retryable.length > 0) {
      await manager.query(
        `INSERT INTO rendition_rebuild_images (run_id, image_id, outcome)
         SELECT $1, image_id, 'failed' FROM unnest($2::uuid[]) AS image_id
         ON CONFLICT DO NOTHING`,
        [id, retryable],
      );
    }
    await this.forgetCounted(manager, id);
  }

  /** A page of images queued: the total grows, and planning resumes after `cursor`. */
  async addQueued(
    manager: EntityManager,
    id: string,
    queued: number,
    cursor: string | null,
  ): Promise<void> {
    await manager.query(
      `UPDATE rendition_rebuilds SET total = total + $2, cursor = $3, updated_at = now()
        WHERE id = $1`,
      [id, queued, cursor],
    );
  }

  /** Every image is queued: the run runs, or is already over when its jobs all finished. */
  async planned(manager: EntityManager, id: string): Promise<void> {
    // In a WITH, so that every driver answers the rows (a bare UPDATE's answer differs).
    const rows = await manager.query<{ state: RebuildState }[]>(
      `WITH planned AS (
         UPDATE rendition_rebuilds
            SET state = CASE WHEN ${FINISHED} THEN $2 ELSE $3 END,
                finished_at = CASE WHEN ${FINISHED} THEN now() END,
                updated_at = now()
          WHERE id = $1 AND state = $4
         RETURNING state)
       SELECT state FROM planned`,
      [id, RebuildState.Completed, RebuildState.Running, RebuildState.Planning],
    );
    if (rows[0]?.state === RebuildState.Completed) await this.forgetCounted(manager, id);
  }

  /**
   * Counts one image of the run as done or failed, once: an image the run has counted already (a
   * job run again after its count committed) and a run no longer under way change nothing, but
   * for an image counted failed that a job retried by an admin (`POST /jobs/{id}/retry`) has now
   * done, which moves from failed to done, in a completed run too. The run completes with its last
   * image (once planning has queued them all). Returns whether it counted. The run's row is
   * locked first, as the other changes of a run lock it.
   */
  async count(
    manager: EntityManager,
    id: string,
    imageId: string,
    outcome: 'done' | 'failed',
  ): Promise<boolean> {
    const run = await this.lock(manager, id);
    if (!run || run.state === RebuildState.Superseded) return false;
    if (outcome === 'done' && (await this.failedNowDone(manager, id, imageId))) return true;
    if (!(ACTIVE_STATES as readonly RebuildState[]).includes(run.state)) return false;
    const inserted = await manager.query<unknown[]>(
      `INSERT INTO rendition_rebuild_images (run_id, image_id, outcome) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING RETURNING image_id`,
      [id, imageId, outcome],
    );
    if (inserted.length === 0) return false;
    const done = outcome === 'done' ? 1 : 0;
    const finished = `"done" + $2 + "failed" + $3 >= "total"`;
    const rows = await manager.query<{ state: RebuildState }[]>(
      `WITH counted AS (
         UPDATE rendition_rebuilds
            SET done = done + $2, failed = failed + $3, updated_at = now(),
                finished_at = CASE WHEN state = $4 AND ${finished} THEN now() ELSE finished_at END,
                state = CASE WHEN state = $4 AND ${finished} THEN $5 ELSE state END
          WHERE id = $1
         RETURNING state)
       SELECT state FROM counted`,
      [id, done, 1 - done, RebuildState.Running, RebuildState.Completed],
    );
    if (rows[0]?.state === RebuildState.Completed) await this.forgetCounted(manager, id);
    return true;
  }

  /** An image counted failed, done now by a retried job: moved from `failed` to `done`. */
  private async failedNowDone(
    manager: EntityManager,
    id: string,
    imageId: string,
  ): Promise<boolean> {
    const rows = await manager.query<unknown[]>(
      `WITH corrected AS (
         UPDATE rendition_rebuild_images SET outcome = 'done'
          WHERE run_id = $1 AND image_id = $2 AND outcome = 'failed'
         RETURNING 1),
       counted AS (
         UPDATE rendition_rebuilds SET done = done + 1, failed = failed - 1, updated_at = now()
          WHERE id = $1 AND EXISTS (SELECT 1 FROM corrected)
         RETURNING 1)
       SELECT 1 FROM counted`,
      [id, imageId],
    );
    return rows.length > 0;
  }

  /**
   * A run over: which images it counted done no longer matters; those it counted failed are kept
   * while the run is, as a retried job may yet do one (superseded, the run forgets them all).
   */
  private async forgetCounted(
    manager: EntityManager,
    id: string,
    { keepFailed = true } = {},
  ): Promise<void> {
    await manager.query(
      `DELETE FROM rendition_rebuild_images WHERE run_id = $1 AND (NOT $2 OR outcome = 'done')`,
      [id, keepFailed],
    );
  }
}
