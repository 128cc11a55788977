import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { isDatabaseConnectionLost } from '../../database/pg-errors';
import { StorageWriteError } from '../../storage/image-storage';
import { StorageDeletionsService } from '../../storage/storage-deletions.service';
import { isImageFileKey } from '../../storage/storage-keys';
import type { StoredRendition } from '../entities/image.entity';
import { ImageFilesService } from '../image-files.service';
import { ImageRenditionsRepository, type RebuiltImage } from './image-renditions.repository';
import { RenditionRebuildsRepository } from './rendition-rebuilds.repository';

/**
 * The transactions of a rebuild job: an image's new renditions swapped in (or, when the image
 * changed meanwhile, the new files given up), the old files queued for deletion and the run's
 * counters, each in one transaction, so no file is ever both unnamed and kept.
 */
@Injectable()
export class RenditionSwap {
  constructor(
    private readonly dataSource: DataSource,
    private readonly images: ImageRenditionsRepository,
    private readonly runs: RenditionRebuildsRepository,
    private readonly deletions: StorageDeletionsService,
    private readonly files: ImageFilesService,
  ) {}

  /**
   * Points the image at its new renditions if it still exists, in the same gallery, naming the
   * renditions it was read with; then the files only the old renditions used are queued for
   * deletion and the image counted done (once), in the same transaction. Otherwise the new files
   * (`written`) are queued for deletion instead, and nothing is counted. Returns whether it swapped.
   */
  async swap(
    runId: string,
    image: RebuiltImage,
    renditions: Record<string, StoredRendition>,
    renditionSet: string,
    written: string[],
  ): Promise<boolean> {
    const swapped = await this.inTransaction(image, written, async (manager) => {
      // The gallery's lock first, as every gallery change takes it: then the image's row.
      if (image.productId) await this.images.holdGallery(manager, image.productId);
      if (!(await this.images.swap(manager, image, renditions, renditionSet))) {
        // Its files are the image's organisation's: so is their deletion job.
        await this.deletions.enqueue(manager, written, image.organizationId);
        return false;
      }
      // New URLs in the gallery: its ETag moves on, as for any change of it.
      if (image.productId) await this.images.bumpGallery(manager, image.productId);
      const next = { id: image.id, storageKey: image.storageKey, renditions };
      await this.deletions.enqueue(
        manager,
        this.files.releasedKeys(image, next),
        image.organizationId,
      );
      await this.runs.count(manager, runId, image.id, 'done');
      return true;
    });
    this.deletions.afterCommit();
    return swapped;
  }

  /**
   * The swap's transaction. Refused by the database (a statement or lock timeout, a conflict), it
   * rolled back: no row names the new files, which are queued for deletion as for a swap that
   * found the image changed. Not after a lost connection, which may have lost the COMMIT itself:
   * those are kept for the orphan sweep (as an upload's, ImageFilesService.withStoredFiles).
   */
  private async inTransaction<T>(
    image: RebuiltImage,
    written: string[],
    work: (manager: EntityManager) => Promise<T>,
  ): Promise<T> {
    try {
      return await this.dataSource.transaction(work);
    } catch (error) {
      if (!isDatabaseConnectionLost(error))
        await this.discard(image, written).catch(() => undefined);
      throw error;
    }
  }

  /**
   * New files no image will name (making the renditions failed half-way): queued for deletion.
   * After `failure`, a write given up at its deadline (which the storage may still complete after
   * the deletion), they are queued again for later, as an upload's are (sendAfterLateWrites).
   */
  async discard(image: RebuiltImage, written: string[], failure?: unknown): Promise<void> {
    if (written.length === 0) return;
    await this.dataSource.transaction((manager) =>
      this.deletions.enqueue(manager, written, image.organizationId),
    );
    this.deletions.afterCommit();
    if (failure instanceof StorageWriteError && failure.timedOut) {
      // Each a new key of its own (a rendition's random variant), never written again.
      await this.deletions.sendAfterLateWrites(
        written.filter(isImageFileKey),
        image.organizationId,
      );
    }
  }

  /** Counts the image for its run, once (see RenditionRebuildsRepository.count). */
  count(runId: string, imageId: string, outcome: 'done' | 'failed'): Promise<boolean> {
    return this.dataSource.transaction((manager: EntityManager) =>
      this.runs.count(manager, runId, imageId, outcome),
    );
  }
}
