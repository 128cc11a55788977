import {
  StorageWriteError,
  type ImageFile,
  type ImageStorage,
  type ImageToStore,
  type RenditionsToStore,
  type StoredFileRef,
  type StoredImage,
  type StoredRenditionRecord,
} from '../image-storage';
import {
  deliveryHeaders,
  type PutOptions,
  type StorageProvider,
  type StoredObject,
} from '../storage-provider';
import { StorageTimeoutError } from './deadline.storage-provider';

/**
 * Images on storage that keeps files (local disk, S3): the original and every rendition are files
 * of their own, under the keys the caller gives; a key names the same bytes for ever.
 */
export class FilesImageStorage implements ImageStorage {
  readonly needsRenditionBytes = true;
  readonly keyPolicy = 'immutable';
  readonly keepsDerivedResults = true;

  constructor(private readonly provider: StorageProvider) {}

  async store(image: ImageToStore, written: string[]): Promise<StoredImage> {
    const key = image.keyOf('original', image.original.extension);
    const original = await putImageFile(this.provider, key, image.original, written);
    const renditions = await this.storeRenditions(
      { ...image, original: { ...image.original, key } },
      written,
    );
    return storedImage(key, original, image.original, renditions);
  }

  async storeRenditions(
    image: RenditionsToStore,
    written: string[],
  ): Promise<Record<string, StoredRenditionRecord>> {
    const renditions: Record<string, StoredRenditionRecord> = {};
    for (const rendition of image.renditions) {
      const file = rendition.file();
      const renditionKey = image.keyOf(rendition.name, file.extension);
      await putImageFile(this.provider, renditionKey, file, written);
      const { width, height, format } = file;
      renditions[rendition.name] = {
        key: renditionKey,
        width,
        height,
        format,
        size: file.buffer.length,
      };
    }
    return renditions;
  }

  /** Keys are immutable here: new bytes always get new keys, none is ever moved onto. */
  moveTo(): Promise<StoredImage> {
    return Promise.reject(new Error(`${this.provider.driver} storage keys are immutable`));
  }

  url(file: StoredFileRef): Promise<string> {
    if (file.transform) {
      throw new Error(`${this.provider.driver} storage stores renditions; it does not derive them`);
    }
    return this.provider.url(file.key);
  }

  /** The service makes results and keeps them as objects of their own. */
  transformedUrl(): undefined {
    return undefined;
  }
}

/**
 * Writes one image file under `key` (pushed onto `written` first) with the delivery headers of its
 * type; a failure is a StorageWriteError naming the key.
 */
export async function putImageFile<Options extends PutOptions>(
  provider: { put(key: string, body: Buffer, options: Options): Promise<StoredObject> },
  key: string,
  file: ImageFile,
  written: string[],
  extra?: Omit<Options, keyof PutOptions>,
): Promise<StoredObject> {
  written.push(key);
  const options = { contentType: file.mimeType, ...deliveryHeaders(file.mimeType), ...extra };
  try {
    return await provider.put(key, file.buffer, options as Options);
  } catch (error) {
    throw new StorageWriteError(key, error, error instanceof StorageTimeoutError);
  }
}

/** The stored original: what the storage measured, where it does (Cloudinary), else the file's. */
export function storedImage(
  key: string,
  stored: StoredObject,
  file: ImageFile,
  renditions: Record<string, StoredRenditionRecord>,
): StoredImage {
  return {
    key,
    format: stored.format ?? file.format,
    width: stored.width ?? file.width,
    height: stored.height ?? file.height,
    size: stored.size,
    version: stored.version ?? null,
    renditions,
  };
}
