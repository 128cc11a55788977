import type { Readable } from 'node:stream';

/** The injection token of the configured {@link StorageProvider}. */
export const STORAGE_PROVIDER = Symbol('STORAGE_PROVIDER');

/** What providers that store headers with the object (S3, Cloudinary) record with it. */
export interface PutOptions extends DeliveryHeaders {
  contentType: string;
}

export interface StoredObject {
  key: string;
  size: number;
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
 */
export interface StorageProvider {
  readonly driver: string;
  /** Stores the bytes under `key`, replacing what was there, atomically. */
  put(key: string, body: Readable | Buffer, options: PutOptions): Promise<StoredObject>;
  /** Removes the object; a key that does not exist is not an error. */
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** The URL clients fetch the object from. */
  url(key: string): string;
  /** For providers the application serves itself (local): the bytes and their validators. */
  read?(key: string): Promise<ObjectStream | undefined>;
  /** Readiness: throws when the storage cannot be used. */
  check(): Promise<void>;
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
