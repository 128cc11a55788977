import {
  StorageWriteError,
  type ImageStorage,
  type ImageToStore,
  type RenditionsToStore,
  type StoredFileRef,
  type StoredImage,
  type StoredRenditionRecord,
} from '../image-storage';
import { transformedSize, type DeliveryTransform } from '../image-transform';
import type { StoredObject } from '../storage-provider';
import type { CloudinaryStorageProvider } from './cloudinary.storage-provider';
import { putImageFile, storedImage } from './files.image-storage';

/**
 * Images on Cloudinary, which derives renditions at delivery: only the original is stored (with
 * the crop its bytes already had, applied again on upload, so that what Cloudinary keeps matches);
 * each rendition is recorded as a transformation of it, its size computed from the original's as
 * Cloudinary measured it, and its URL asks Cloudinary to apply the transformation. Writing over a
 * key purges Cloudinary's CDN, so stable keys may take new bytes: moved onto them by a rename
 * once stored under a key of their own (see moveTo), never uploaded over them.
 */
export class CloudinaryImageStorage implements ImageStorage {
  readonly needsRenditionBytes = false;
  readonly keyPolicy = 'overwritable';
  readonly keepsDerivedResults = false;

  constructor(private readonly provider: CloudinaryStorageProvider) {}

  async store(image: ImageToStore, written: string[]): Promise<StoredImage> {
    const key = image.keyOf('original', image.original.extension);
    const { transformedBy } = image.original;
    const stored = await putImageFile(
      this.provider,
      key,
      image.original,
      written,
      transformedBy ? { transformOnUpload: transformedBy } : {},
    );
    const original = storedImage(key, stored, image.original, {});
    const renditions = await this.storeRenditions({ ...image, original });
    return { ...original, renditions };
  }

  /**
   * Renames the original's asset onto `key` (see CloudinaryStorageProvider.rename); its renditions,
   * transformations of it, follow it there.
   */
  async moveTo(image: StoredImage, key: string): Promise<StoredImage> {
    let moved: StoredObject;
    try {
      moved = await this.provider.rename(image.key, key);
    } catch (error) {
      if (error instanceof StorageWriteError) throw error;
      throw new StorageWriteError(key, error, true);
    }
    const renditions = Object.fromEntries(
      Object.entries(image.renditions).map(([name, rendition]) => [name, { ...rendition, key }]),
    );
    return {
      key,
      format: moved.format ?? image.format,
      width: moved.width ?? image.width,
      height: moved.height ?? image.height,
      size: moved.size,
      version: moved.version ?? null,
      renditions,
    };
  }

  /** Nothing to write: each rendition is recorded as a transformation of the stored original. */
  storeRenditions(image: RenditionsToStore): Promise<Record<string, StoredRenditionRecord>> {
    const { key, width, height } = image.original;
    const renditions: Record<string, StoredRenditionRecord> = {};
    for (const { name, transform } of image.renditions) {
      renditions[name] = {
        key,
        ...transformedSize(transform, width, height),
        format: 'auto',
        size: null,
        transform,
      };
    }
    return Promise.resolve(renditions);
  }

  url(file: StoredFileRef): Promise<string> {
    const { key, version } = file;
    return file.transform
      ? this.provider.transformedUrl(key, file.transform, version)
      : this.provider.url(key, version);
  }

  /** Cloudinary makes results on request itself, from URL transformations. */
  transformedUrl(original: StoredFileRef, transform: DeliveryTransform): Promise<string> {
    return this.provider.deliveredUrl(original.key, transform, original.version);
  }
}
