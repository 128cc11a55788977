import type { Readable } from 'node:stream';
import type { MediaAnswer, MediaRequest } from './media-answer';
import { DependencyFailure } from '../common/errors/dependency-failure';

/** The injection token of the configured {@link StorageProvider}. */
export const STORAGE_PROVIDER = Symbol('STORAGE_PROVIDER');

/** What providers that store headers with the object (S3, Cloudinary) record with it. */
export interface PutOptions extends DeliveryHeaders {
  contentType: string;
  /**
   * Aborted when the write must stop (STORAGE_TIMEOUT_MS passed, see deadline.storage-provider.ts):
   * the provider stops writing and removes what it had written, then rejects.
   */
  signal?: AbortSignal;
}

/**
 * What any operation but `put` and `list` (PutOptions, ListOptions) may be given, last: `signal`
 * aborts when its caller gives up (STORAGE_TIMEOUT_MS passed, see deadline.storage-provider.ts),
 * and the provider then ends its request, so that a call no one waits for holds no connection. A
 * provider with nothing to end (local disk) or whose SDK cannot be told (Cloudinary) ignores it.
 */
export interface CallOptions {
  signal?: AbortSignal;
}

/**
 * Where each operation taking CallOptions has them among its arguments: for the wrappers that add
 * a signal (deadline.storage-provider.ts) or read the caller's (measured.storage-provider.ts).
 */
export const CALL_OPTIONS_AT: Readonly<Record<string, number>> = {
  delete: 1,
  exists: 1,
  check: 0,
  read: 1,
  serve: 2,
};

export interface StoredObject {
  key: string;
  size: number;
  /** What the storage itself measured, where it does (Cloudinary), in the API's format names. */
  width?: number;
  height?: number;
  format?: string;
  /**
   * The version the storage gave these bytes, where it gives one (Cloudinary: the upload's time
   * in seconds), for URLs that change when a key takes new bytes.
   */
  version?: number;
}

/** An object as a listing names it. */
export interface ListedObject {
  key: string;
  /** When its bytes were last written, by the storage's clock. */
  lastModified: Date;
}

export interface ListOptions {
  /** Objects asked of the storage per request (its own maximum applies). */
  pageSize?: number;
  /**
   * Aborted when the listing is given up (a page not come within STORAGE_TIMEOUT_MS, see
   * deadline.storage-provider.ts): the provider ends the request of the page under way, as for
   * CallOptions.signal.
   */
  signal?: AbortSignal;
  /**
   * Called by the provider just before each request for a page (S3, Cloudinary), so that the
   * deadline applies to each request, not to the wait for the next object: one such wait may span
   * several requests (Cloudinary lists the whole folder and keeps the keys under the prefix, so a
   * run of pages may yield nothing). A provider whose listing has no pages (local disk: each
   * object is a wait of its own) does not call it.
   */
  onPage?: () => void;
}

export interface ObjectStream {
  stream: Readable;
  size: number;
  contentType: string;
  /** A strong validator for conditional requests. */
  etag: string;
  lastModified: Date;
}

/**
 * Where image bytes live: local disk, S3-compatible storage or Cloudinary, chosen by
 * STORAGE_DRIVER. Keys are made by the server (see storage-keys.ts); the provider never sees a
 * client's file name. Every method either succeeds or leaves nothing behind for that key.
 *
 * Objects only, the same on every provider. How a provider keeps an image (renditions as files,
 * or derived at delivery; keys immutable or overwritable) is its ImageStorage strategy's business
 * (image-storage.ts), which is what the domain asks when it stores an image or wants its URLs.
 */
export interface StorageProvider {
  readonly driver: string;
  /**
   * Stores the bytes under `key`, replacing what was there, atomically: on failure nothing is
   * left under the key (a multipart upload is aborted).
   */
  put(key: string, body: Readable | Buffer, options: PutOptions): Promise<StoredObject>;
  /** Removes the object; a key that does not exist is not an error. */
  delete(key: string, options?: CallOptions): Promise<void>;
  exists(key: string, options?: CallOptions): Promise<boolean>;
  /**
   * Every object whose key starts with `prefix`, read from the storage a page at a time as the
   * caller iterates (never the whole listing in memory), in no particular order. Objects written
   * or deleted meanwhile may or may not appear.
   */
  list(prefix: string, options?: ListOptions): AsyncIterable<ListedObject>;
  /** The URL clients fetch the object from (public, or presigned for a private bucket). */
  url(key: string): Promise<string>;
  /**
   * Where the URLs `url` hands out expire (presigned): one of them, made again for now (the same
   * object, a new signature); undefined for any other string. Absent where URLs never expire.
   * An answer recorded for an Idempotency-Key is replayed with it (ReplayedUrlsService).
   */
  reissueUrl?(url: string): Promise<string | undefined>;
  /**
   * The bytes and their validators, where the service reads objects back: local disk (what /media
   * serves) and S3 (an original read to make its renditions again); undefined for a missing key.
   */
  read?(key: string, options?: CallOptions): Promise<ObjectStream | undefined>;
  /**
   * Answers a client's request for the object, where the service delivers stored objects itself
   * (local disk, S3: the results of transform URLs): the bytes with their validators and the
   * delivery headers, `304` for a current copy, `206` for a byte range, `416` past the end. Absent
   * where clients fetch objects from the storage (Cloudinary).
   */
  serve?(key: string, request: MediaRequest, options?: CallOptions): Promise<MediaAnswer>;
  /** Readiness: throws a {@link StorageError} saying why when the storage cannot be used. */
  check(options?: CallOptions): Promise<void>;
  /** Releases connections (at shutdown). */
  close?(): void;
}

/**
 * A storage operation failed: the storage is unreachable, refused our credentials, timed out or
 * answered with an error. The message says which, without secrets; `cause` keeps the SDK's error.
 */
export class StorageError extends DependencyFailure {
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage_unavailable', message, options);
    this.name = 'StorageError';
  }
}

export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable';

export interface DeliveryHeaders {
  cacheControl: string;
  contentDisposition?: string;
  contentSecurityPolicy?: string;
}

/**
 * How a stored object is delivered, whichever provider holds it: cached for a year (keys are never
 * reused for other bytes); an SVG is never rendered as a document of our origin (a download when
 * opened directly, sandboxed with no script if rendered anyway).
 */
export function deliveryHeaders(contentType: string): DeliveryHeaders {
  if (contentType === 'image/svg+xml') {
    return {
      cacheControl: IMMUTABLE_CACHE_CONTROL,
      contentDisposition: 'attachment',
      contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    };
  }
  return { cacheControl: IMMUTABLE_CACHE_CONTROL };
}

/** Content types by the extensions the service writes. */
export const CONTENT_TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  svg: 'image/svg+xml',
};
