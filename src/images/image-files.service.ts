import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AppError } from '../common/errors/app.error';
import { safeError } from '../common/logging/safe-error';
import { retryOnLostConnection } from '../database/lost-connection-retry';
import { isDatabaseConnectionLost } from '../database/pg-errors';
import { apartFromTheWork } from '../idempotency/idempotent-attempt';
import type { Product } from '../products/entities/product.entity';
import {
  IMAGE_STORAGE,
  StorageWriteError,
  type ImageStorage,
  type ImageToStore,
  type StoredImage,
} from '../storage/image-storage';
import { StorageDeletionsService } from '../storage/storage-deletions.service';
import {
  derivedPrefix,
  imageObjectKey,
  importedImageKey,
  isImageFileKey,
  keyStem,
} from '../storage/storage-keys';
import { STORAGE_PROVIDER, type StorageProvider } from '../storage/storage-provider';
import type { Image } from './entities/image.entity';
import { ImageKeysRepository } from './image-keys.repository';
import {
  ImageProcessor,
  type ProcessedImage,
  type ProcessOptions,
} from './processing/image-processor';
import { renditionSetOf } from './renditions/rendition-set';

/** What the storage holds of a new image, as recorded in its row. */
export type StoredFiles = Pick<
  Image,
  | 'format'
  | 'mimeType'
  | 'width'
  | 'height'
  | 'size'
  | 'sha256'
  | 'colorMode'
  | 'hasAlpha'
  | 'storageKey'
  | 'storageVersion'
  | 'renditions'
  | 'renditionSet'
>;

/**
 * A new image's files: its id, its product's (null for a stand-alone upload), and its
 * organisation's (named by the deletion of what a failure leaves).
 */
export interface FilesOf {
  imageId: string;
  productId: string | null;
  organizationId: string;
}

/**
 * The keys an attempt to store an image wrote (each added before its write), and whether a write
 * was given up at its deadline (the storage may still complete it after the clean-up).
 */
interface Writes {
  keys: string[];
  timedOut: boolean;
}

/** Stores an import's files while its product is locked (see withImportedFiles). */
export type StoreUnderLock = (product: Product, manager: EntityManager) => Promise<StoredFiles>;

/** The keys an image's files occupy: its original's and its renditions'. */
type FileKeys = Pick<Image, 'id' | 'storageKey' | 'renditions'>;

/** What an image's URLs are made from: its keys, and its original's version (see Image). */
type FileRefs = FileKeys & Pick<Image, 'storageVersion'>;

export interface ImageUrls {
  original: string;
  /** Rendition name → URL. */
  renditions: Record<string, string>;
}

/** What the Ocha API's import crops its image to (the processor's `fill`). */
type Fill = NonNullable<ProcessOptions['fill']>;

/**
 * Everything images/ asks of storage: writing a new image's files (and removing them when what
 * follows fails), whether the processor must encode renditions, the Ocha API's stable key, the
 * files an image occupies and their URLs. How providers differ (renditions derived at delivery,
 * keys overwritable, crops on upload) is storage's ImageStorage strategy's business: this service
 * asks it neutral questions and never names a provider.
 */
@Injectable()
export class ImageFilesService {
  private readonly logger = new Logger(ImageFilesService.name);

  constructor(
    @Inject(IMAGE_STORAGE) private readonly images: ImageStorage,
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
    private readonly deletions: StorageDeletionsService,
    private readonly processor: ImageProcessor,
    private readonly keys: ImageKeysRepository,
    private readonly dataSource: DataSource,
  ) {}

  /** What the processor encodes for this storage: renditions only where it reads their bytes. */
  processingOptions(): ProcessOptions {
    return { renditions: this.images.needsRenditionBytes };
  }

  /**
   * Stores the processed image under its id (`products/<product>/<id>/…`, or `uploads/<id>/…`),
   * then runs `use` with what was stored. When storing or `use` fails, the files already written
   * are queued for deletion (deleted at once, retried if that fails), so nothing is left behind;
   * but not those a row names: `use` failed after its transaction committed (reading its answer,
   * say), and the image is there to stay (see {@link unheldKeys}).
   */
  async withStoredFiles<T>(
    processed: ProcessedImage,
    of: FilesOf,
    use: (files: StoredFiles) => Promise<T>,
  ): Promise<T> {
    const writes: Writes = { keys: [], timedOut: false };
    try {
      const files = await this.storeFiles(processed, writes, (variant, extension) =>
        imageObjectKey({ productId: of.productId }, of.imageId, variant, extension),
      );
      return await use(files);
    } catch (error) {
      const unheld = await this.unheldKeys(writes.keys, error);
      await this.deleteQuietly(unheld, of.organizationId, writes.timedOut);
      throw error;
    }
  }

  /**
   * Those of `keys` that no image's row names, after `failure`. When the database cannot say,
   * none: a file deleted under a committed row is an image lost, while a file kept without one is
   * deleted by the orphan sweep once its grace period has passed. A connection lost is such a
   * case: it may have been lost during the COMMIT, which the server may still be completing when
   * a new connection asks.
   */
  private async unheldKeys(keys: string[], failure: unknown): Promise<string[]> {
    if (keys.length === 0) return [];
    if (isDatabaseConnectionLost(failure)) {
      this.logger.warn(
        { keys: keys.length },
        'Files of an upload whose database connection was lost kept for the orphan sweep',
      );
      return [];
    }
    try {
      const held = await retryOnLostConnection(() =>
        this.keys.heldKeys(this.dataSource.manager, keys),
      );
      return keys.filter((key) => !held.has(key));
    } catch (error) {
      this.logger.warn(
        { err: safeError(error), keys: keys.length },
        'Files of a failed upload kept for the orphan sweep: could not tell whether it committed',
      );
      return [];
    }
  }

  /**
   * The Ocha API's import, filled to `fill`: `use` gets the function that stores the files, to call
   * while the product is locked. The files are written first, before the lock, under the image's
   * own keys, as uploads are. Where the storage's keys are overwritable (it purges caches on
   * overwrite), the original is then published as the Ocha API does, in `products/` under the
   * product's slug: the slug key is claimed under the lock and the stored original moved onto it
   * (ImageStorage.moveTo), never uploaded over it, so that an upload given up at its deadline and
   * completed by the storage afterwards lands on a key no row names (deleted later), not on the
   * product's current image. When anything fails, the new keys no image's row names are deleted
   * (see {@link unheldKeys}) and the stable key released.
   */
  async withImportedFiles<T>(
    processed: ProcessedImage,
    of: FilesOf & { productId: string },
    fill: Fill,
    use: (storeUnderLock: StoreUnderLock) => Promise<T>,
  ): Promise<T> {
    const perImage = (variant: string, extension: string) =>
      imageObjectKey({ productId: of.productId }, of.imageId, variant, extension);
    const writes: Writes = { keys: [], timedOut: false };
    let slugKey: string | undefined;
    try {
      const stored = await this.storeFiles(processed, writes, perImage, fill);
      return await use(async (product, manager) => {
        if (this.images.keyPolicy !== 'overwritable') return stored;
        const claimed = await this.claimSlugKey(manager, product, processed.original.extension);
        if (!claimed) return stored;
        slugKey = claimed;
        return this.moveOnto(stored, claimed, writes);
      });
    } catch (error) {
      // The connection lost, maybe during the COMMIT: the files may be the image's (see unheldKeys).
      if (isDatabaseConnectionLost(error)) throw error;
      // Not those a committed row names, as for uploads; the slug key is released under its lock.
      const unheld = await this.unheldKeys(
        writes.keys.filter((key) => key !== slugKey),
        error,
      );
      await this.deleteQuietly(unheld, of.organizationId, writes.timedOut);
      if (slugKey) await this.releaseSlugKey(slugKey, of.organizationId);
      throw error;
    }
  }

  /** The stored files moved onto `key` (the original's; its renditions are derived from it). */
  private async moveOnto(stored: StoredFiles, key: string, writes: Writes): Promise<StoredFiles> {
    const image: StoredImage = {
      key: stored.storageKey,
      format: stored.format,
      width: stored.width,
      height: stored.height,
      size: stored.size,
      version: stored.storageVersion,
      renditions: stored.renditions,
    };
    const moved = await this.writing(writes, () => this.images.moveTo(image, key));
    return {
      ...stored,
      format: moved.format,
      width: moved.width,
      height: moved.height,
      size: moved.size,
      storageKey: moved.key,
      storageVersion: moved.version,
      renditions: moved.renditions,
    };
  }

  /** The URLs of an image's original and renditions, as storage delivers what each record names. */
  async urls(image: FileRefs): Promise<ImageUrls> {
    const version = image.storageVersion;
    const renditions = await Promise.all(
      Object.entries(image.renditions).map(
        async ([name, r]) => [name, await this.images.url({ ...r, version })] as const,
      ),
    );
    return {
      original: await this.images.url({ key: image.storageKey, version }),
      renditions: Object.fromEntries(renditions),
    };
  }

  /**
   * Every storage key an image occupies: the original and each stored rendition, once each, and
   * where the service keeps the results of its transform URLs, their prefix (`derived/<id>/`,
   * deleted as a whole by the file-deletion job).
   */
  keysOf(image: FileKeys): string[] {
    const keys = [image.storageKey, ...Object.values(image.renditions).map((r) => r.key)];
    if (this.images.keepsDerivedResults) keys.push(derivedPrefix(image.id));
    return [...new Set(keys)];
  }

  /**
   * The keys of `previous` that `next` does not take over. A key `next` writes again, or one that
   * differs only by extension (the same object on Cloudinary), is kept.
   */
  releasedKeys(previous: FileKeys, next: FileKeys): string[] {
    const kept = new Set(this.keysOf(next).map(keyStem));
    return this.keysOf(previous).filter((key) => !kept.has(keyStem(key)));
  }

  /**
   * Stores the original and its renditions, as the storage keeps them, under the keys `keyOf`
   * gives (each added to `writes` before it is written). Where the storage measured the original
   * (Cloudinary), its figures win. A failed write is 503 storage_unavailable.
   */
  private async storeFiles(
    processed: ProcessedImage,
    writes: Writes,
    keyOf: (variant: string, extension: string) => string,
    fill?: Fill,
  ): Promise<StoredFiles> {
    const stored = await this.writing(writes, () =>
      this.images.store(this.toStore(processed, keyOf, fill), writes.keys),
    );
    return {
      format: stored.format,
      mimeType: processed.original.mimeType,
      width: stored.width,
      height: stored.height,
      size: stored.size,
      sha256: processed.original.sha256,
      colorMode: processed.colorMode,
      hasAlpha: processed.hasAlpha,
      storageKey: stored.key,
      storageVersion: stored.version,
      renditions: stored.renditions,
      renditionSet: renditionSetOf(this.processor.presets),
    };
  }

  /** A write to storage: its failure is 503 storage_unavailable, and recorded in `writes`. */
  private async writing<R>(writes: Writes, write: () => Promise<R>): Promise<R> {
    try {
      return await write();
    } catch (error) {
      if (!(error instanceof StorageWriteError)) throw error;
      writes.timedOut ||= error.timedOut;
      this.logger.error({ err: safeError(error.cause), key: error.key }, 'Storage write failed');
      throw new AppError('storage_unavailable', 'The image could not be stored; try again later.');
    }
  }

  /**
   * The processed image as storage is asked to keep it: the original (cropped to `fill` around
   * what draws the eye, for the Ocha API) and one rendition per preset, whose bytes the processor
   * encoded when the storage needs them (see processingOptions).
   */
  private toStore(
    processed: ProcessedImage,
    keyOf: (variant: string, extension: string) => string,
    fill?: Fill,
  ): ImageToStore {
    const { original } = processed;
    return {
      original: fill ? { ...original, transformedBy: { ...fill, fit: 'attention' } } : original,
      renditions: this.processor.presets.map(({ name, ...transform }) => ({
        name,
        transform,
        file: () => {
          const file = processed.renditions[name];
          if (!file) throw new Error(`rendition ${name} was not encoded`);
          return file;
        },
      })),
      keyOf,
    };
  }

  /**
   * Files of a failed upload: deleted before the failure is answered, their deletion queued too
   * (StorageDeletionsService.discard). After a write given up at its deadline (`timedOut`), they
   * are left to that job, and an image's own files are deleted again later, in
   * case the storage completes that write after this (never the Ocha API's slug key, which the
   * next import of the product writes again); the orphan sweep is there if that cannot be queued.
   */
  private async deleteQuietly(
    keys: string[],
    organizationId: string,
    timedOut = false,
  ): Promise<void> {
    if (keys.length === 0) return;
    await this.deletions.discard(keys, organizationId, { wait: !timedOut });
    if (timedOut) {
      await this.deletions
        .sendAfterLateWrites(keys.filter(isImageFileKey), organizationId)
        .catch(() => undefined);
    }
  }

  /**
   * The Ocha API's key, `products/<slug>.<ext>`, unless another organisation's product holds it (slugs
   * are unique per organisation only) or a deletion of it is still queued: then the product's id
   * is added. Should that be held too (a product was named so that its slug is this one's
   * `<slug>-<uuid>`), undefined: the image's own keys are used, which no slug can spell. Each is
   * claimed under a transaction-scoped advisory lock on it, so two products cannot both take it;
   * the locks are taken in order of length, so two claims cannot wait on each other.
   */
  private async claimSlugKey(
    manager: EntityManager,
    product: Product,
    extension: string,
  ): Promise<string | undefined> {
    for (const key of [
      importedImageKey(product.slug, extension),
      importedImageKey(product.slug, extension, product.id),
    ]) {
      const stem = keyStem(key);
      await this.keys.lockStem(manager, stem);
      const taken =
        (await this.keys.isTakenByOther(manager, product.id, stem)) ||
        (await this.deletions.isQueued(manager, stem));
      if (!taken) return key;
    }
    return undefined;
  }

  /**
   * After a failed import, the Ocha API's stable key is deleted only if no image holds it: the
   * previous import of the product keeps it, and so does a product that claimed it since our
   * transaction ended. Decided under the key's lock, so no claim can slip in between. A move that
   * failed left the key as it was; one that succeeded before the transaction failed (or whose
   * outcome could not be read back) left the new bytes under it, which the previous import's row
   * then names with its own version and size until the next import: better those bytes than
   * none, as when the key was written over in place.
   */
  private async releaseSlugKey(key: string, organizationId: string): Promise<void> {
    const stem = keyStem(key);
    // A clean-up, not the import's work: its commit leaves the Idempotency-Key free to let go.
    const queued = await apartFromTheWork(() =>
      this.dataSource.transaction(async (manager) => {
        await this.keys.lockStem(manager, stem);
        if (await this.keys.isHeld(manager, stem)) return false;
        await this.deletions.enqueue(manager, [key], organizationId);
        return true;
      }),
    ).catch((error: unknown) => {
      this.logger.error({ err: safeError(error), key }, 'Could not queue a failed import');
      return false;
    });
    if (queued) this.deletions.afterCommit();
  }
}
