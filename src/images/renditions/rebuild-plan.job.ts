import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { JobQueue } from '../../jobs/job-queue.service';
import { JOB_ORGANIZATION_KEY } from '../../jobs/jobs.repository';
import { parseRenditionPresets } from '../processing/rendition-presets';
import { IMAGE_REBUILD_QUEUE, type ImageRebuildJobData } from './image-rebuild.job';
import { ImageRenditionsRepository } from './image-renditions.repository';
import { RebuildState } from './rendition-rebuild.entity';
import { RenditionRebuildsRepository } from './rendition-rebuilds.repository';
import { madeWith } from './rendition-set';

/** The queue of runs to plan: one job per run, which queues the run's images. */
export const REBUILD_PLAN_QUEUE = 'renditions-rebuild-plan';

export interface RebuildPlanJobData {
  runId: string;
}

/** Images read, and jobs queued, per transaction. */
const PAGE = 500;

/**
 * Plans a run: pages through the images whose presets differ from the run's, by id (a keyset, so
 * nothing holds more than a page), and queues one job per image, a page per transaction together
 * with the run's total and the id it reached: a planning job that dies resumes after that id, and
 * never queues an image twice. An image stored before presets were recorded whose renditions
 * already match the run's presets is only marked with them. Stops when the run is superseded.
 */
@Injectable()
export class RebuildPlanJob implements OnModuleInit {
  constructor(
    private readonly jobs: JobQueue,
    private readonly dataSource: DataSource,
    private readonly runs: RenditionRebuildsRepository,
    private readonly images: ImageRenditionsRepository,
  ) {}

  onModuleInit(): void {
    this.jobs.define<RebuildPlanJobData>({
      name: REBUILD_PLAN_QUEUE,
      // A run is the service's (every organisation's images): its plan names no organisation.
      serviceWide: true,
      retryLimit: 10,
      retryDelaySeconds: 10,
      retryDelayMaxSeconds: 600,
      // Pages of a large catalogue: resumable, but let one attempt take its time.
      expireInSeconds: 3600,
      // But a job whose process died is retried once twice JOB_HEARTBEAT_SECONDS at most and its
      // retry delay have passed, not after that hour.
      heartbeat: true,
      handler: ({ runId }) => this.plan(runId),
    });
  }

  async plan(runId: string): Promise<{ pages: number }> {
    let pages = 0;
    while (await this.planPage(runId)) {
      pages += 1;
      this.jobs.wake(IMAGE_REBUILD_QUEUE);
    }
    this.jobs.wake(IMAGE_REBUILD_QUEUE);
    return { pages };
  }

  /** Queues the next page of the run's images; returns whether there may be more. */
  private planPage(runId: string): Promise<boolean> {
    return this.dataSource.transaction(async (manager) => {
      const run = await this.runs.lock(manager, runId);
      if (run?.state !== RebuildState.Planning) return false;
      const page = await this.images.differing(manager, run.renditionSet, run.cursor, PAGE);
      const presets = parseRenditionPresets(run.renditionSet);
      const matching = page.filter(
        (image) => image.renditionSet === null && madeWith(presets, image),
      );
      const queued = page.filter((image) => !matching.includes(image));
      await this.images.markMadeWith(
        manager,
        matching.map((image) => image.id),
        run.renditionSet,
      );
      await this.jobs.sendMany<ImageRebuildJobData>(
        IMAGE_REBUILD_QUEUE,
        queued.map((image) => ({
          runId,
          imageId: image.id,
          [JOB_ORGANIZATION_KEY]: image.organizationId,
        })),
        { manager },
      );
      await this.runs.addQueued(manager, runId, queued.length, page.at(-1)?.id ?? run.cursor);
      if (page.length === PAGE) return true;
      await this.runs.planned(manager, runId);
      return false;
    });
  }
}
