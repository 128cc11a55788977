import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { safeError } from '../common/logging/safe-error';
import { JobQueue } from '../jobs/job-queue.service';
import { imageIdOfDerivedKey, isImageFileKey, keyStem } from '../storage/storage-keys';
import { STORAGE_PROVIDER, type StorageProvider } from '../storage/storage-provider';
import { ImageKeysRepository } from './image-keys.repository';
import { IMAGES_CONFIG, type ImagesConfig } from './images.config';

/** The queue of the sweep: one job per tick of ORPHAN_SWEEP_CRON. */
export const ORPHAN_FILE_SWEEP_QUEUE = 'orphan-file-sweep';

/**
 * Where the service writes (storage-keys.ts): images' files and the results of transform URLs;
 * nothing else in the storage is looked at.
 */
const PREFIXES = ['products/', 'uploads/', 'derived/'];
/** Listed keys checked against the rows in one query. */
const BATCH = 500;

export interface OrphanSweep {
  /** Objects listed under the service's prefixes. */
  listed: number;
  deleted: number;
  /** Deletions the storage refused (the next sweep tries them again). */
  failed: number;
}

/**
 * Deletes stored files that no image row names: left by a process that died between writing an
 * upload's files and committing its row, or by a deletion that failed for good. A scheduled job
 * on ORPHAN_SWEEP_CRON (one instance per tick): it lists the storage under the service's
 * prefixes a page at a time, asks the rows which of each batch of keys they name
 * (ImageKeysRepository.heldKeys), and deletes the others, only once they are older than
 * ORPHAN_SWEEP_GRACE_HOURS: an upload in flight writes its files before its row commits.
 */
@Injectable()
export class OrphanFileSweeper implements OnModuleInit {
  private readonly logger = new Logger('OrphanFiles');

  constructor(
    @Inject(IMAGES_CONFIG) private readonly config: ImagesConfig,
    private readonly jobs: JobQueue,
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
    private readonly keys: ImageKeysRepository,
    private readonly dataSource: DataSource,
  ) {}

  onModuleInit(): void {
    const cron = this.config.ORPHAN_SWEEP_CRON;
    this.jobs.define({
      name: ORPHAN_FILE_SWEEP_QUEUE,
      schedule: cron === 'off' ? undefined : cron,
      serviceWide: true,
      retryLimit: 1,
      retryDelaySeconds: 600,
      // Listing a large bucket takes a while; past this the job is stopped (its signal aborts).
      expireInSeconds: 6 * 3600,
      concurrency: 1,
      handler: (_data, job) => this.sweep(job.signal),
    });
  }

  /** One sweep of the whole storage; throws when a deletion failed (after trying every orphan). */
  async sweep(signal?: AbortSignal): Promise<OrphanSweep> {
    const before = new Date(Date.now() - this.config.ORPHAN_SWEEP_GRACE_HOURS * 3600 * 1000);
    const sweep: OrphanSweep = { listed: 0, deleted: 0, failed: 0 };
    for (const prefix of PREFIXES) {
      let batch: string[] = [];
      for await (const object of this.storage.list(prefix)) {
        if (signal?.aborted) throw new Error('The orphan sweep was stopped before its end');
        sweep.listed += 1;
        if (object.lastModified < before && isSwept(object.key)) batch.push(object.key);
        if (batch.length === BATCH) {
          await this.deleteOrphans(batch, sweep);
          batch = [];
        }
      }
      await this.deleteOrphans(batch, sweep);
    }
    if (sweep.deleted > 0 || sweep.failed > 0) {
      this.logger.log(sweep, `Deleted ${sweep.deleted} stored file(s) that no image names`);
    }
    if (sweep.failed > 0) throw new Error(`${sweep.failed} orphan file deletion(s) failed`);
    return sweep;
  }

  private async deleteOrphans(keys: string[], sweep: OrphanSweep): Promise<void> {
    const held = await this.keys.heldKeys(this.dataSource.manager, keys);
    for (const key of keys) {
      if (held.has(key)) continue;
      try {
        if (await this.deleteIfOrphan(key)) sweep.deleted += 1;
      } catch (error) {
        sweep.failed += 1;
        this.logger.warn({ err: safeError(error), key }, 'Deleting an orphan file failed');
      }
    }
  }

  /**
   * Checked again and deleted under the key's lock, which an import claiming the Ocha API's stable
   * key (and overwriting its object) holds until its row commits: no row can start naming the
   * key between this check and the delete.
   */
  private deleteIfOrphan(key: string): Promise<boolean> {
    return this.dataSource.transaction(async (manager) => {
      await this.keys.lockStem(manager, keyStem(key));
      if ((await this.keys.heldKeys(manager, [key])).size > 0) return false;
      await this.storage.delete(key);
      return true;
    });
  }
}

/**
 * An image's file by its ids, or a transform result (`derived/<image>/…`, held while its image
 * exists). Never the Ocha API's slug keys (`products/<slug>.<ext>`, on Cloudinary only): in a
 * Cloudinary folder, or at the account's root with a blank CLOUDINARY_FOLDER, every asset named
 * like a slug (Cloudinary's `sample`, a banner someone uploaded, a random public id) has that shape,
 * and the sweep cannot tell the service's from the others'; one the service left is kept.
 */
function isSwept(key: string): boolean {
  return isImageFileKey(key) || imageIdOfDerivedKey(key) !== undefined;
}
