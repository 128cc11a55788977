import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { abortReason } from '../common/concurrency/abort-reason';
import type { StorageProvider } from '../storage/storage-provider';
import {
  releaseSpoolFile,
  spoolProblem,
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

/** Removes the file {@link spoolStoredOriginal} made, now. Never throws. */
export const releaseStoredOriginal = (path: string): Promise<void> => releaseSpoolFile(path);

/**
 * Copies a stored original into the upload spool (whose sweep removes what a crash leaves), where
 * the processor reads it like an upload, and returns the file's path; the caller removes it
 * (releaseStoredOriginal). The bytes stream to disk: memory stays flat whatever the original's
 * size. `signal`: once it aborts (nobody waits for the result any more), the read ends where it
 * is, its request ended (on S3, its connection's turn given back), its stream destroyed and what
 * it spooled removed, rejected with the signal's reason.
 */
export async function spoolStoredOriginal(
  storage: StorageProvider,
  key: string,
  config: { readonly DATA_DIR: string },
  purpose: string,
  signal?: AbortSignal,
): Promise<string> {
  if (!storage.read) throw new Error(`${storage.driver} storage cannot read originals back`);
  signal?.throwIfAborted();
  const object = await storage.read(key, { signal }).catch((error: unknown) => {
    // The read ended by the signal: why it was (a storage error would say 502).
    throw signal?.aborted ? abortReason(signal, 'The read was aborted') : error;
  });
  if (!object) throw new OriginalMissingError(key);
  const dir = uploadTempDir(config);
  // Removed by a forced exit too, as a request's spool files are: the caller releases it.
  const path = trackSpoolFile(join(dir, `${purpose}-${randomUUID()}`));
  // Which side failed first: the spool's (its disk full, its folder unusable) is answered as
  // uploads' are; the storage's stream failing is not the spool's, whatever its code.
  let failed: 'source' | 'sink' | undefined;
  try {
    await mkdir(dir, { recursive: true }).catch((error: unknown) => {
      failed = 'sink';
      throw error;
    });
    // Readable by the service only, as every spooled upload is.
    const sink = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    object.stream.once('error', () => (failed ??= 'source'));
    sink.once('error', () => (failed ??= 'sink'));
    await pipeline(object.stream, sink, { signal });
  } catch (error) {
    // Unread if the folder could not be made: its file handle or socket is let go.
    object.stream.destroy();
    await releaseSpoolFile(path);
    if (signal?.aborted) throw abortReason(signal, 'The read was aborted');
    // No room, or the folder unusable: the service's temporary condition, 503 with Retry-After
    // as for uploads rather than a 500; a rebuild job retries it later.
    throw failed === 'sink' ? spoolProblem(error) : error;
  }
  return path;
}
