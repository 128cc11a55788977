import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { safeError } from '../../common/logging/safe-error';
import { JobQueue } from '../../jobs/job-queue.service';
import { StorageDeletionsService } from '../../storage/storage-deletions.service';
import { IMAGES_CONFIG, type ImagesConfig } from '../images.config';
import { ImageFilesService } from '../image-files.service';
import { StandaloneImagesRepository } from './standalone-images.repository';

/** The queue of the sweep: one job per tick of UNATTACHED_IMAGE_SWEEP_CRON. */
export const UNATTACHED_IMAGE_SWEEP_QUEUE = 'unattached-image-sweep';

const BATCH = 100;

/**
 * Deletes stand-alone uploads past their `expires_at` (those uploaded with `expires_in` and not
 * attached since; others have none and are kept), with their files: a scheduled job, on
 * UNATTACHED_IMAGE_SWEEP_CRON, which the job queue runs on one instance per tick. Each batch is
 * one statement that deletes the rows it could lock (`FOR UPDATE SKIP LOCKED`) and queues their
 * files' deletion in the same transaction, so sweeps running at once never delete a row twice,
 * and an image being attached (its row locked) is skipped rather than deleted from under the
 * attach.
 */
@Injectable()
export class UnattachedImageSweeper implements OnModuleInit {
  private readonly logger = new Logger('UnattachedImages');

  constructor(
    @Inject(IMAGES_CONFIG) private readonly config: ImagesConfig,
    private readonly jobs: JobQueue,
    private readonly deletions: StorageDeletionsService,
    private readonly dataSource: DataSource,
    private readonly repository: StandaloneImagesRepository,
    private readonly files: ImageFilesService,
  ) {}

  onModuleInit(): void {
    const cron = this.config.UNATTACHED_IMAGE_SWEEP_CRON;
    this.jobs.define({
      name: UNATTACHED_IMAGE_SWEEP_QUEUE,
      schedule: cron === 'off' ? undefined : cron,
      serviceWide: true,
      // The next tick sweeps again: a failed sweep is not retried.
      retryLimit: 0,
      concurrency: 1,
      handler: async () => {
        try {
          return { swept: await this.drain() };
        } catch (error) {
          this.logger.error({ err: safeError(error) }, 'Sweep of unattached images failed');
          throw error;
        }
      },
    });
  }

  /** Deletes every expired unattached image now; returns how many. Never throws (it logs). */
  async sweep(): Promise<number> {
    try {
      return await this.drain();
    } catch (error) {
      this.logger.error({ err: safeError(error) }, 'Sweep of unattached images failed');
      return 0;
    }
  }

  private async drain(): Promise<number> {
    let swept = 0;
    for (;;) {
      const count = await this.dataSource.transaction(async (manager) => {
        const deleted = await this.repository.deleteExpired(manager, BATCH);
        // Each organisation's files in jobs of its own, which only its admins see.
        for (const organizationId of new Set(deleted.map((files) => files.organizationId))) {
          const keys = deleted
            .filter((files) => files.organizationId === organizationId)
            .flatMap((files) => this.files.keysOf(files));
          await this.deletions.enqueue(manager, keys, organizationId);
        }
        return deleted.length;
      });
      if (count > 0) this.deletions.afterCommit();
      swept += count;
      if (count < BATCH) break;
    }
    if (swept > 0) this.logger.log(`Deleted ${swept} expired stand-alone upload(s)`);
    return swept;
  }
}
