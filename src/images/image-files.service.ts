import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AppError } from '../common/errors/app.error';
import { safeError } from '../common/logging/safe-error';
import type { Product } from '../products/entities/product.entity';
import { StorageDeletionsService } from '../storage/storage-deletions.service';
import { imageObjectKey, importedImageKey, keyStem } from '../storage/storage-keys';
import {
  deliveryHeaders,
  STORAGE_PROVIDER,
  type PutOptions,
  type StorageProvider,
  type StoredObject,
} from '../storage/storage-provider';
import type { Image, StoredRendition } from './entities/image.entity';
import { ImageKeysRepository } from './image-keys.repository';
import {
  ImageProcessor,
  type EncodedImage,
  type ProcessedImage,
  type ProcessOptions,
} from './processing/image-processor';
import { renditionSize } from './processing/rendition-presets';

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
  | 'renditions'
>;

/** A new image's files: its id, and its product's (null for a stand-alone upload). */
export interface FilesOf {
  imageId: string;
  productId: string | null;
}

/** Stores an import's files while its product is locked (see withImportedFiles). */
export type StoreUnderLock = (product: Product, manager: EntityManager) => Promise<StoredFiles>;

/** The keys an image's files occupy: its original's and its renditions'. */
type FileKeys = Pick<Image, 'storageKey' | 'renditions'>;

export interface ImageUrls {
  original: string;
  /** Rendition name → URL. */
  renditions: Record<string, string>;
}

interface StoredOriginal {
  format: string;
  width: number;
  height: number;
  size: number;
}

/**
 * Everything images/ asks of the storage provider: writing a new image's files (and removing them
 * when what follows fails), which renditions the processor must encode, the Ocha API's stable key,
 * the files an image occupies and their URLs. The one place where images/ knows how providers
 * differ (renditions derived on delivery, caches purged on overwrite, crops on upload).
 */
@Injectable()
export class ImageFilesService {
  private readonly logger = new Logger(ImageFilesService.name);

  constructor(
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
    private readonly deletions: StorageDeletionsService,
    private readonly processor: ImageProcessor,
    private readonly keys: ImageKeysRepository,
    private readonly dataSource: DataSource,
  ) {}

  /** What the processor encodes for this storage: no renditions where it derives them. */
  processingOptions(): ProcessOptions {
    return { renditions: !this.storage.derivesRenditions };
  }

  /**
   * Stores the processed image under its id (`products/<product>/<id>/…`, or `uploads/<id>/…`),
   * then runs `use` with what was stored. When storing or `use` fails, the files already written
   * are deleted (or queued for the background retry), so nothing is left behind.
   */
  async withStoredFiles<T>(
    processed: ProcessedImage,
    of: FilesOf,
    use: (files: StoredFiles) => Promise<T>,
  ): Promise<T> {
    const written: string[] = [];
    try {
      const files = await this.storeFiles(processed, written, (variant, extension) =>
        imageObjectKey({ productId: of.productId }, of.imageId, variant, extension),
      );
      return await use(files);
    } catch (error) {
      await this.deleteQuietly(written);
      throw error;
    }
  }

  /**
   * The Ocha API's import, filled to `fill`: `use` gets the function that stores the files, to call
   * while the product is locked. Where the storage purges caches on overwrite (Cloudinary), the
   * original is stored as the Ocha API does: in `products/` under the product's slug, overwriting,
   * claimed and written under the lock; elsewhere under new keys, written before the lock, as
   * uploads are. When anything fails, the new keys are deleted and the stable key released.
   */
  async withImportedFiles<T>(
    processed: ProcessedImage,
    of: FilesOf & { productId: string },
    fill: NonNullable<PutOptions['fill']>,
    use: (storeUnderLock: StoreUnderLock) => Promise<T>,
  ): Promise<T> {
    const perImage = (variant: string, extension: string) =>
      imageObjectKey({ productId: of.productId }, of.imageId, variant, extension);
    const written: string[] = [];
    let slugKey: string | undefined;
    try {
      const prestored = this.storage.invalidatesOnOverwrite
        ? undefined
        : await this.storeFiles(processed, written, perImage, fill);
      return await use(async (product, manager) => {
        if (prestored) return prestored;
        const claimed = await this.claimSlugKey(manager, product, processed.original.extension);
        slugKey = claimed;
        const keyOf = (variant: string, extension: string) =>
          variant === 'original' ? claimed : perImage(variant, extension);
        return this.storeFiles(processed, written, keyOf, fill);
      });
    } catch (error) {
      await this.deleteQuietly(written.filter((key) => key !== slugKey));
      if (slugKey) await this.releaseSlugKey(slugKey);
      throw error;
    }
  }

  /**
   * The URLs of an image's original and renditions: stored files, or, where the storage derives
   * renditions on delivery, the original's URL with each rendition's transformation.
   */
  async urls(image: FileKeys): Promise<ImageUrls> {
    const renditions = await Promise.all(
      Object.entries(image.renditions).map(
        async ([name, r]) => [name, await this.storage.url(r.key, r.transform)] as const,
      ),
    );
    return {
      original: await this.storage.url(image.storageKey),
      renditions: Object.fromEntries(renditions),
    };
  }

  /** Every storage key an image occupies: the original and each stored rendition, once each. */
  keysOf(image: FileKeys): string[] {
    return [...new Set([image.storageKey, ...Object.values(image.renditions).map((r) => r.key)])];
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
   * Stores the original and its renditions under the keys `keyOf` gives (each added to `written`
   * before it is written), or, where the storage derives renditions, records them as
   * transformations of the original. Where the storage measured the original (Cloudinary), its
   * figures win.
   */
  private async storeFiles(
    processed: ProcessedImage,
    written: string[],
    keyOf: (variant: string, extension: string) => string,
    fill?: PutOptions['fill'],
  ): Promise<StoredFiles> {
    const storageKey = keyOf('original', processed.original.extension);
    const original = await this.store(storageKey, processed.original, written, fill);
    const renditions = this.derivedRenditions(storageKey, original);
    for (const [name, rendition] of Object.entries(processed.renditions)) {
      const key = keyOf(name, rendition.extension);
      await this.store(key, rendition, written);
      const { width, height, format, size } = rendition;
      renditions[name] = { key, width, height, format, size };
    }
    return {
      format: original.format,
      mimeType: processed.original.mimeType,
      width: original.width,
      height: original.height,
      size: original.size,
      sha256: processed.original.sha256,
      colorMode: processed.colorMode,
      hasAlpha: processed.hasAlpha,
      storageKey,
      renditions,
    };
  }

  /** Where the storage derives renditions: each preset as a transformation of the original. */
  private derivedRenditions(
    storageKey: string,
    original: StoredOriginal,
  ): Record<string, StoredRendition> {
    const renditions: Record<string, StoredRendition> = {};
    if (!this.storage.derivesRenditions) return renditions;
    for (const { name, ...transform } of this.processor.presets) {
      renditions[name] = {
        key: storageKey,
        ...renditionSize(transform, original.width, original.height),
        format: 'auto',
        size: null,
        transform,
      };
    }
    return renditions;
  }

  private async store(
    key: string,
    file: EncodedImage,
    written: string[],
    fill?: PutOptions['fill'],
  ): Promise<StoredOriginal> {
    written.push(key);
    let stored: StoredObject;
    try {
      stored = await this.storage.put(key, file.buffer, {
        contentType: file.mimeType,
        ...deliveryHeaders(file.mimeType),
        ...(fill ? { fill } : {}),
      });
    } catch (error) {
      this.logger.error({ err: safeError(error), key }, 'Storage write failed');
      throw new AppError('storage_unavailable', 'The image could not be stored; try again later.');
    }
    return {
      format: stored.format ?? file.format,
      width: stored.width ?? file.width,
      height: stored.height ?? file.height,
      size: stored.size,
    };
  }

  /** Files of a failed upload: deleted now, or queued for the background retry. */
  private async deleteQuietly(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    const ids = await this.deletions.enqueue(this.dataSource.manager, keys).catch(() => []);
    if (ids.length > 0) return this.deletions.attempt(ids);
    await Promise.allSettled(keys.map((key) => this.storage.delete(key)));
  }

  /**
   * The Ocha API's key, `products/<slug>.<ext>`, unless another organisation's product holds it (slugs
   * are unique per organisation only) or a deletion of it is still queued: then the product's id
   * is added. Claimed under a transaction-scoped advisory lock on the slug, so two products with
   * the same slug cannot both take it.
   */
  private async claimSlugKey(
    manager: EntityManager,
    product: Product,
    extension: string,
  ): Promise<string> {
    const preferred = importedImageKey(product.slug, extension);
    const stem = keyStem(preferred);
    await this.keys.lockStem(manager, stem);
    return (await this.keys.isTakenByOther(manager, product.id, stem))
      ? importedImageKey(product.slug, extension, product.id)
      : preferred;
  }

  /**
   * After a failed import, the Ocha API's stable key is deleted only if no image holds it: the
   * previous import of the product, whose object was overwritten in place, keeps it (better the
   * new bytes than none), and so does a product that claimed it since our transaction ended.
   * Decided under the key's lock, so no claim can slip in between.
   */
  private async releaseSlugKey(key: string): Promise<void> {
    const stem = keyStem(key);
    const outbox = await this.dataSource
      .transaction(async (manager) => {
        await this.keys.lockStem(manager, stem);
        const held = await this.keys.isHeld(manager, stem);
        return held ? [] : this.deletions.enqueue(manager, [key]);
      })
      .catch((error: unknown) => {
        this.logger.error({ err: safeError(error), key }, 'Could not queue a failed import');
        return [];
      });
    await this.deletions.attempt(outbox);
  }
}
