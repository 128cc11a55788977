import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { StorageProvider } from '../storage/storage-provider';
import { uploadTempDir } from './intake/upload-spool';

/** The stored original is gone or unreadable: nothing can be made from it. */
export class OriginalMissingError extends Error {
  constructor(readonly key: string) {
    super(`The original ${key} is not in storage`);
    this.name = 'OriginalMissingError';
  }
}

/**
 * Copies a stored original into the upload spool (whose sweep removes what a crash leaves), where
 * the processor reads it like an upload, and returns the file's path; the caller removes it. The
 * bytes stream to disk: memory stays flat whatever the original's size.
 */
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
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${purpose}-${randomUUID()}`);
  try {
    await pipeline(object.stream, createWriteStream(path));
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
  return path;
}
