import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { AppError } from '../../common/errors/app.error';
import { ERROR_CODES } from '../../common/errors/error-codes';
import { safeError } from '../../common/logging/safe-error';
import { ServiceRole } from '../../config/env.validation';
import { JobQueue } from '../../jobs/job-queue.service';
import { JOB_ORGANIZATION_KEY } from '../../jobs/jobs.repository';
import { ImageRenditionsRepository } from './image-renditions.repository';
import { OriginalMissingError } from '../stored-original';
import { RenditionMaker } from './rendition-maker.service';
import { RebuildState, type RenditionRebuild } from './rendition-rebuild.entity';
import { RenditionRebuildsRepository } from './rendition-rebuilds.repository';
import { RenditionSwap } from './rendition-swap.service';
import { RENDITIONS_CONFIG, type RenditionsConfig } from './renditions.config';

/** The queue of images whose renditions are made again: one job per image. */
export const IMAGE_REBUILD_QUEUE = 'renditions-rebuild';

export interface ImageRebuildJobData {
  runId: string;
  imageId: string;
  /** The image's organisation: only its admins see the job (absent on jobs queued before 2026-12-02). */
  [JOB_ORGANIZATION_KEY]?: string;
}

/** Attempts after the first before an image counts as failed for its run. */
const RETRY_LIMIT = 4;

export type RebuildOutcome = 'remade' | 'current' | 'gone' | 'superseded' | 'failed';

/**
 * One image of a run: its renditions made again from its original with the run's presets, and
 * swapped in atomically (RenditionSwap). An image deleted, or re-made by another job, meanwhile
 * keeps no new file. What retrying cannot mend (an original missing from storage, or refused by
 * the processor's limits) counts as failed at once; anything else (storage unavailable, the
 * processor busy) is retried with back-off, and counts as failed once the job has failed for
 * good: after its last attempt, or when its process died during it (whenFailed, which runs in
 * either case, so the run's counts still reach its total).
 */
@Injectable()
export class ImageRebuildJob implements OnModuleInit {
  private readonly logger = new Logger('RenditionRebuild');

  constructor(
    private readonly jobs: JobQueue,
    private readonly runs: RenditionRebuildsRepository,
    private readonly images: ImageRenditionsRepository,
    private readonly maker: RenditionMaker,
    private readonly swap: RenditionSwap,
    @Inject(RENDITIONS_CONFIG) private readonly config: RenditionsConfig,
  ) {}

  onModuleInit(): void {
    this.jobs.define<ImageRebuildJobData>({
      name: IMAGE_REBUILD_QUEUE,
      retryLimit: RETRY_LIMIT,
      retryDelaySeconds: 30,
      retryDelayMaxSeconds: 1800,
      // A job whose process died is retried once twice JOB_HEARTBEAT_SECONDS at most and its
      // retry delay have passed, not after the 15-minute expiry.
      heartbeat: true,
      // Beside uploads, one image at a time; a worker uses every processing slot.
      concurrency:
        this.config.SERVICE_ROLE === ServiceRole.Worker
          ? this.config.IMAGE_PROCESSING_CONCURRENCY
          : 1,
      handler: (data) => this.run(data),
      whenFailed: (data) => this.failedForGood(data),
    });
  }

  async run({
    runId,
    imageId,
  }: ImageRebuildJobData): Promise<{ outcome: RebuildOutcome; reason?: string }> {
    const run = await this.runs.find(runId);
    if (!run || run.state === RebuildState.Superseded) return { outcome: 'superseded' };
    try {
      return { outcome: await this.rebuild(run, imageId) };
    } catch (error) {
      const reason = permanentFailure(error);
      // Retried; once failed for good, counted by failedForGood.
      if (reason === undefined) throw error;
      this.logger.warn({ err: safeError(error), imageId, runId }, 'Renditions not re-made');
      await this.swap.count(runId, imageId, 'failed');
      return { outcome: 'failed', reason };
    }
  }

  /** The image's job failed for good (its last attempt threw, or its process died during it). */
  async failedForGood({ runId, imageId }: ImageRebuildJobData): Promise<void> {
    const run = await this.runs.find(runId);
    if (!run || run.state === RebuildState.Superseded) return;
    this.logger.warn({ imageId, runId }, 'Renditions not re-made: the job failed for good');
    await this.swap.count(runId, imageId, 'failed');
  }

  private async rebuild(run: RenditionRebuild, imageId: string): Promise<RebuildOutcome> {
    if (run.renditionSet !== this.maker.renditionSet) {
      // Instances must share IMAGE_RENDITIONS; one configured otherwise leaves the job to another.
      throw new Error(`This instance's presets (${this.maker.renditionSet}) are not the run's`);
    }
    const image = await this.images.find(imageId);
    if (!image || image.renditionSet === run.renditionSet) {
      await this.swap.count(run.id, imageId, 'done');
      return image ? 'current' : 'gone';
    }
    const written: string[] = [];
    let renditions;
    try {
      renditions = await this.maker.make(image, written);
    } catch (error) {
      await this.swap.discard(image, written, error);
      // Its original was deleted with the image while the job read it: gone, not failed.
      if (error instanceof OriginalMissingError && !(await this.images.find(imageId))) {
        await this.swap.count(run.id, imageId, 'done');
        return 'gone';
      }
      throw error;
    }
    if (await this.swap.swap(run.id, image, renditions, run.renditionSet, written)) {
      return 'remade';
    }
    // The image changed while its renditions were made: gone, or re-made by another job.
    const now = await this.images.find(imageId);
    if (!now || now.renditionSet === run.renditionSet) {
      await this.swap.count(run.id, imageId, 'done');
      return now ? 'current' : 'gone';
    }
    throw new Error('The image changed while its renditions were made; trying again');
  }
}

/** Why retrying cannot help, or undefined when it may. */
function permanentFailure(error: unknown): string | undefined {
  if (error instanceof OriginalMissingError) return 'original_missing';
  if (error instanceof AppError && ERROR_CODES[error.code].kind === 'invalid') return error.code;
  return undefined;
}
