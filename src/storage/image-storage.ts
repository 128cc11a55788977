import type { DeliveryTransform, ImageTransform } from './image-transform';
import { StorageError } from './storage-provider';

/** The injection token of the configured provider's {@link ImageStorage}. */
export const IMAGE_STORAGE = Symbol('IMAGE_STORAGE');

/** One encoded image file: its bytes and what they are. */
export interface ImageFile {
  buffer: Buffer;
  mimeType: string;
  /** The extension its key takes (jpg, png, webp, svg…). */
  extension: string;
  /** jpeg, png, gif, webp, avif or svg. */
  format: string;
  width: number;
  height: number;
}

/** A rendition of the image to store. */
export interface RenditionToStore {
  name: string;
  /** How it is made from the original. */
  transform: ImageTransform;
  /**
   * Its bytes. Asked for only by storage that keeps renditions as files: storage that derives
   * them at delivery never calls it (see {@link ImageStorage.needsRenditionBytes}).
   */
  file(): ImageFile;
}

/** An image to store: its original, its renditions, and where each file goes. */
export interface ImageToStore {
  original: ImageFile & {
    /**
     * What the bytes already are, when they are the output of a transformation of the upload
     * (the Ocha API's import: cropped to fill 500×500 around what draws the eye). A description of
     * the bytes, not an instruction: storage that transforms on upload asks for the same crop, so
     * what it keeps is what it was given; the others store the bytes as they are.
     */
    transformedBy?: ImageTransform;
  };
  renditions: readonly RenditionToStore[];
  /** The key of a file: `original`'s, or a rendition's by its name, with its extension. */
  keyOf(variant: string, extension: string): string;
}

/**
 * New renditions of an image already stored: its original stays as it is (same key, same bytes),
 * only the renditions are made again, under the keys `keyOf` gives (new ones, so the files the
 * image's row names now stay until it names the new ones).
 */
export interface RenditionsToStore {
  /** The stored original, as the image's row records it (its key and the size storage measured). */
  original: { key: string; width: number; height: number };
  renditions: readonly RenditionToStore[];
  /** The key of a rendition's file, by its name, with its extension. */
  keyOf(variant: string, extension: string): string;
}

/** A stored rendition, as the image's row records it. */
export interface StoredRenditionRecord {
  /** Its own file, or the original's key when the storage derives it at delivery. */
  key: string;
  width: number;
  height: number;
  /** webp, or `auto` when the storage picks the format per browser at delivery. */
  format: string;
  /** Bytes; null when derived at delivery (not known until then). */
  size: number | null;
  /** Set when the storage derives the rendition at delivery: the transformation to apply. */
  transform?: ImageTransform;
}

/** What storage kept of an image: its original (as the storage measured it, where it does). */
export interface StoredImage {
  key: string;
  format: string;
  width: number;
  height: number;
  size: number;
  /** The original's version, where the storage gives one (see StoredObject.version); else null. */
  version: number | null;
  /** Rendition name → its record, in the order given. */
  renditions: Record<string, StoredRenditionRecord>;
}

/**
 * A stored file as a record names it: a key, a transformation where one is derived, and the
 * original's version where the storage gave one (a rendition derived from it shares it).
 */
export type StoredFileRef = Pick<StoredRenditionRecord, 'key' | 'transform'> & {
  version?: number | null;
};

/**
 * Which keys may take new bytes. `immutable`: a key names the same bytes for ever (objects are
 * delivered cached for a year), so new bytes always get a new key. `overwritable`: writing over
 * a key also purges every cached copy (Cloudinary's `invalidate`), so a stable key, such as the
 * Ocha API's `products/<slug>.<ext>`, may take new bytes (moved onto it: ImageStorage.moveTo).
 */
export type KeyPolicy = 'immutable' | 'overwritable';

/**
 * How images are kept, whichever provider holds them: the port the domain asks its storage
 * questions through, so that it never branches on the provider.
 *
 * Providers differ in how they keep an image, not only in where bytes go. Local disk and S3 store
 * files: every rendition is a file of its own, keys are immutable. Cloudinary derives renditions
 * at delivery: only the original is stored, each rendition is recorded as a transformation of it
 * and its URL asks Cloudinary to apply it; writing over a key purges its CDN, so stable keys may be
 * reused. Rather than flags on {@link StorageProvider} that the domain reads (and branches on),
 * each provider supplies its strategy (providers/*.image-storage.ts, chosen in
 * storage-provider.factory.ts) and StorageModule provides it under {@link IMAGE_STORAGE}. The
 * domain asks neutral questions: store this image (its original, described, and its renditions,
 * each with its transform and a way to get its bytes), need you the renditions' bytes (so the
 * caller may skip encoding them), may new bytes reuse a key, what is the URL of this record. A
 * new provider is a provider file, a strategy (FilesImageStorage, when it stores files) and a case in the
 * factory: no folder but storage/ changes.
 */
export interface ImageStorage {
  /**
   * Whether {@link store} reads the renditions' bytes. False where the storage derives renditions
   * at delivery: the caller need not encode them.
   */
  readonly needsRenditionBytes: boolean;
  readonly keyPolicy: KeyPolicy;
  /**
   * Whether the results of transform URLs are made by the service and kept as objects under
   * `derived/<imageId>/` (deleted with the image); false where the storage makes them itself.
   */
  readonly keepsDerivedResults: boolean;
  /**
   * Stores the original, and the renditions as this storage keeps them. Every key is pushed onto
   * `written` before it is written, so that the caller can delete what a failure left behind. A
   * failed write is a {@link StorageWriteError}.
   */
  store(image: ImageToStore, written: string[]): Promise<StoredImage>;
  /**
   * Stores new renditions of an image whose original is stored already (renditions made again
   * after the presets changed), as this storage keeps them: files of their own, or transformations
   * of the original recorded only. Keys are pushed onto `written` before they are written, as for
   * {@link store}. Returns rendition name → its record, in the order given.
   */
  storeRenditions(
    image: RenditionsToStore,
    written: string[],
  ): Promise<Record<string, StoredRenditionRecord>>;
  /**
   * Where keys are `overwritable`: moves a stored image (its original stored under a key of its
   * own) onto the stable `key`, over what that key held, and returns it as stored there. The only
   * way a stable key takes new bytes: never an upload to it, which, given up at its deadline, the
   * storage may still complete after the failure was answered, over the image a row names. A
   * failure is a {@link StorageWriteError} naming `key`, after which `key` is as it was, unless
   * the error says `timedOut` (the outcome could not be settled).
   */
  moveTo(image: StoredImage, key: string): Promise<StoredImage>;
  /** The URL clients fetch a stored file from: an original's key, or a rendition's record. */
  url(file: StoredFileRef): Promise<string>;
  /**
   * Where the storage makes results on request itself (Cloudinary): the URL that asks it for
   * `transform` of the original stored under `key`, so that no bytes pass through the service.
   * Undefined where the service makes each result once and keeps it as an object of its own
   * (`derived/…` keys, delivered through StorageProvider.serve).
   */
  transformedUrl(
    original: StoredFileRef,
    transform: DeliveryTransform,
  ): Promise<string> | undefined;
}

/**
 * Writing `key` failed: the provider's error is the cause. `timedOut`: the write outlived
 * STORAGE_TIMEOUT_MS and was given up, so the storage may still apply it after its clean-up (a
 * proxy or the store itself finishing a request it had received whole).
 */
export class StorageWriteError extends StorageError {
  constructor(
    readonly key: string,
    cause: unknown,
    readonly timedOut = false,
  ) {
    super(`Storage write of ${key} failed`, { cause });
    this.name = 'StorageWriteError';
  }
}
