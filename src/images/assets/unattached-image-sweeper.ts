import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { DataSource } from 'typeorm';
import { safeError } from '../../common/logging/safe-error';
import { StorageDeletionsService } from '../../storage/storage-deletions.service';
import { IMAGES_CONFIG, type ImagesConfig } from '../images.config';
import { ImageFilesService } from '../image-files.service';
import { StandaloneImagesRepository } from './standalone-images.repository';

const BATCH = 100;

/**
 * Deletes stand-alone uploads past their `expires_at` (those uploaded with `expires_in` and not
 * attached since; others have none and are kept), with their files: at start-up and every
 * UNATTACHED_IMAGE_SWEEP_SECONDS. Each batch is one statement that deletes the
 * rows it could lock (`FOR UPDATE SKIP LOCKED`) and queues their files in the same transaction, so
 * instances sweeping at once never delete a row twice, and an image being attached (its row
 * locked) is skipped rather than deleted from under the attach.
 */
@Injectable()
export class UnattachedImageSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('UnattachedImages');
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    @Inject(IMAGES_CONFIG) private readonly config: ImagesConfig,
    private readonly deletions: StorageDeletionsService,
    private readonly dataSource: DataSource,
    private readonly repository: StandaloneImagesRepository,
    private readonly files: ImageFilesService,
  ) {}

  onApplicationBootstrap(): void {
    const seconds = this.config.UNATTACHED_IMAGE_SWEEP_SECONDS;
    if (seconds === 0) return;
    void this.sweep();
    this.timer = setInterval(() => void this.sweep(), seconds * 1000);
    this.timer.unref();
  }

  /** Before the database closes: a sweep under way finishes first. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Deletes every expired unattached image; returns how many. Never throws (it logs). */
  sweep(): Promise<number> {
    this.running ??= this.drain()
      .catch((error: unknown) => {
        this.logger.error({ err: safeError(error) }, 'Sweep of unattached images failed');
        return 0;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async drain(): Promise<number> {
    let swept = 0;
    for (;;) {
      const { count, outbox } = await this.dataSource.transaction(async (manager) => {
        const deleted = await this.repository.deleteExpired(manager, BATCH);
        const keys = deleted.flatMap((files) => this.files.keysOf(files));
        return { count: deleted.length, outbox: await this.deletions.enqueue(manager, keys) };
      });
      await this.deletions.attempt(outbox);
      swept += count;
      if (count < BATCH) break;
    }
    if (swept > 0) this.logger.log(`Deleted ${swept} expired stand-alone upload(s)`);
    return swept;
  }
}
