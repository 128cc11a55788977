import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AppError } from '../../common/errors/app.error';
import { safeError } from '../../common/logging/safe-error';
import { failedQueueOf, JobQueue } from '../../jobs/job-queue.service';
import { IMAGE_REBUILD_QUEUE, type ImageRebuildJobData } from './image-rebuild.job';
import { ImageRenditionsRepository } from './image-renditions.repository';
import { REBUILD_PLAN_QUEUE, type RebuildPlanJobData } from './rebuild-plan.job';
import { RenditionMaker } from './rendition-maker.service';
import type { PageQueryDto } from '../../common/pagination/page.dto';
import { RenditionRebuildDto, type RenditionRebuildPageDto } from './rendition-rebuild.dto';
import { RebuildState, RebuildTrigger, type RenditionRebuild } from './rendition-rebuild.entity';
import { RenditionRebuildsRepository } from './rendition-rebuilds.repository';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether this application starts a run at start-up when presets differ (not the CLI's). */
export const REBUILD_AT_START_UP = Symbol('REBUILD_AT_START_UP');

/**
 * Re-making renditions when the presets change: starts a run (or answers the one under way for
 * the same presets; one for other presets is superseded), and reads a run's progress. At start-up,
 * an instance that runs jobs starts a run when any image was made with other presets than its
 * own, or with presets not recorded. The work itself is jobs: RebuildPlanJob queues the images,
 * ImageRebuildJob re-makes each.
 */
@Injectable()
export class RenditionRebuildsService implements OnApplicationBootstrap {
  private readonly logger = new Logger('RenditionRebuild');

  constructor(
    private readonly dataSource: DataSource,
    private readonly runs: RenditionRebuildsRepository,
    private readonly images: ImageRenditionsRepository,
    private readonly maker: RenditionMaker,
    private readonly jobs: JobQueue,
    @Inject(REBUILD_AT_START_UP) private readonly atStartUp: boolean,
  ) {}

  /** After the job queue has started (JobsModule's own bootstrap runs first). */
  async onApplicationBootstrap(): Promise<void> {
    if (!this.atStartUp || !this.jobs.runsJobs) return;
    try {
      if (!(await this.images.anyDiffers(this.maker.renditionSet))) return;
      const run = await this.start(RebuildTrigger.StartUp);
      this.logger.log(
        { run: run.id, presets: run.presets },
        'Images made with other presets: their renditions are being made again',
      );
    } catch (error) {
      // The service works without it; the next start-up, an admin or the CLI starts it again.
      this.logger.error({ err: safeError(error) }, 'Could not start re-making renditions');
    }
  }

  /**
   * The run re-making renditions with this instance's presets: the one under way, or a new one
   * (superseding a run for other presets, or after closing one that would never finish: see
   * stalled); with none under way and nothing to re-make, the newest run if it found nothing
   * either (see foundNothing). Serialised across instances by an advisory lock.
   */
  async start(trigger: RebuildTrigger): Promise<RenditionRebuildDto> {
    const renditionSet = this.maker.renditionSet;
    const run = await this.dataSource.transaction(async (manager) => {
      await this.runs.lockStarts(manager);
      const active = await this.runs.findActive(manager);
      const same = active?.renditionSet === renditionSet;
      const stalled = active !== null && same && (await this.stalled(manager, active));
      if (active && same && !stalled) {
        // Planning resumes where it stopped, should its job have failed for good; two planning
        // jobs at once are harmless (each page is queued under the run's lock, after its cursor).
        if (active.state === RebuildState.Planning) await this.plan(manager, active.id);
        return active;
      }
      // A run that would never finish is over, and a new run re-makes what it left.
      if (active && stalled) await this.closeStalled(manager, active.id);
      else if (active) await this.runs.supersede(manager, active.id);
      else {
        const found = await this.foundNothing(manager, renditionSet);
        if (found) return found;
      }
      const run = await this.runs.create(manager, renditionSet, trigger);
      await this.plan(manager, run.id);
      return run;
    });
    this.jobs.wake(REBUILD_PLAN_QUEUE);
    return RenditionRebuildDto.from(run);
  }

  /**
   * The newest run, when it is over for these presets having found no image to re-make, and
   * none needs it now: answered again rather than a run of nothing added at each request.
   */
  private async foundNothing(
    manager: EntityManager,
    renditionSet: string,
  ): Promise<RenditionRebuild | undefined> {
    const last = await this.runs.newest(manager);
    const empty =
      last?.state === RebuildState.Completed &&
      last.renditionSet === renditionSet &&
      last.total === 0;
    if (!empty || (await this.images.anyDiffers(renditionSet, manager))) return undefined;
    return last;
  }

  /**
   * Whether `run` is running with none of its images' jobs left to run, nor the jobs that count
   * those failed for good (`renditions-rebuild-failed`): its counts would never reach its total.
   * Its row is locked (findActive), so no job counts an image meanwhile.
   */
  private async stalled(manager: EntityManager, run: RenditionRebuild): Promise<boolean> {
    if (run.state !== RebuildState.Running) return false;
    const queues = [IMAGE_REBUILD_QUEUE, failedQueueOf(IMAGE_REBUILD_QUEUE)];
    const key = 'runId' satisfies keyof ImageRebuildJobData;
    return !(await this.jobs.anyPending(manager, queues, key, run.id));
  }

  /**
   * Closes a stalled run (RenditionRebuildsRepository.closeStalled), its images whose jobs failed
   * for good kept as counted failed: an admin's retry of one that re-makes the image counts it done.
   */
  private async closeStalled(manager: EntityManager, runId: string): Promise<void> {
    const key = 'runId' satisfies keyof ImageRebuildJobData;
    const field = 'imageId' satisfies keyof ImageRebuildJobData;
    const failed = await this.jobs.failedValues(manager, IMAGE_REBUILD_QUEUE, key, runId, field);
    await this.runs.closeStalled(
      manager,
      runId,
      failed.filter((id) => UUID.test(id)),
    );
  }

  /** Queues the planning of a run, unless it is queued already. */
  private async plan(manager: EntityManager, runId: string): Promise<void> {
    await this.jobs.send<RebuildPlanJobData>(
      REBUILD_PLAN_QUEUE,
      { runId },
      { manager, singletonKey: runId },
    );
  }

  /** Runs, newest first. */
  async list(query: PageQueryDto): Promise<RenditionRebuildPageDto> {
    const [runs, total] = await this.runs.page(query.offset, query.per_page);
    return {
      page: query.page,
      per_page: query.per_page,
      total,
      items: runs.map((run) => RenditionRebuildDto.from(run)),
    };
  }

  /** The run and its progress, or 404 rendition_rebuild_not_found. */
  async get(id: string): Promise<RenditionRebuildDto> {
    const run = await this.runs.find(id);
    if (!run) {
      throw new AppError('rendition_rebuild_not_found', 'No rendition rebuild with this id.');
    }
    return RenditionRebuildDto.from(run);
  }
}
