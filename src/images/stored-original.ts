import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../common/errors/app.error';
import type { StorageProvider } from '../storage/storage-provider';
import {
  isNoRoom,
  releaseSpoolFile,
  SPOOL_FULL_RETRY_AFTER_SECONDS,
  trackSpoolFile,
  uploadTempDir,
} from './intake/upload-spool';

/** The stored original is gone or unreadable: nothing can be made from it. */
export class OriginalMissingError extends Error {
  constructor(readonly key: string) {
    super(`The original ${key} is not in storage`);
    this.name = 'OriginalMissingError';
  }
}

/**
 * Copies a stored original into the upload spool (whose sweep removes what a crash leaves), where
 * the processor reads it like an upload, and returns the file's path; the caller removes it
 * (releaseStoredOriginal). The
 * bytes stream to disk: memory stays flat whatever the original's size.
 */
/** Removes the file {@link spoolStoredOriginal} made, now. Never throws. */
export const releaseStoredOriginal = (path: string): Promise<void> => releaseSpoolFile(path);

export async function spoolStoredOriginal(
  storage: StorageProvider,
  key: string,
  config: { readonly DATA_DIR: string },
  purpose: string,
): Promise<string> {
  if (!storage.read) throw new Error(`${storage.driver} storage cannot read originals back`);
  const object = await storage.read(key);
  if (!object) throw new OriginalMissingError(key);
  const dir = uploadTempDir(config);
  // Removed by a forced exit too, as a request's spool files are: the caller releases it.
  const path = trackSpoolFile(join(dir, `${purpose}-${randomUUID()}`));
  try {
    await mkdir(dir, { recursive: true });
    // Readable by the service only, as every spooled upload is.
    await pipeline(object.stream, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
  } catch (error) {
    // Unread if the folder could not be made: its file handle or socket is let go.
    object.stream.destroy();
    await releaseSpoolFile(path);
    throw isNoRoom(error) ? spoolFull() : error;
  }
  return path;
}

/**
 * No room in the spool is the service's temporary condition, as for uploads (upload-spool.ts):
 * 503 `upload_spool_full` with Retry-After, not a 500; a rebuild job retries it later.
 */
function spoolFull(): AppError {
  return new AppError(
    'upload_spool_full',
    'The server has no room now to work on the stored original; try again later.',
    [],
    { 'Retry-After': String(SPOOL_FULL_RETRY_AFTER_SECONDS) },
  );
}
