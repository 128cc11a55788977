import { randomUUID } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import {
  access,
  mkdir,
  open,
  opendir,
  realpath,
  rename,
  rm,
  rmdir,
  stat,
  unlink,
} from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CONTENT_TYPES,
  StorageError,
  type ListedObject,
  type ObjectStream,
  type PutOptions,
  type StorageProvider,
  type StoredObject,
} from '../storage-provider';
import { isPathBelow, resolveKeyPath } from '../storage-keys';
import type { MediaAnswer, MediaRequest } from '../media-answer';
import { answerMediaRequest, fileEtag } from '../media-delivery';

export const LOCAL_TMP_DIR = '.tmp';

/**
 * Age past which a `.part` file of the write area is a write a crash cut short: a live write ends
 * within STORAGE_TIMEOUT_MS (at most 10 minutes), also one of another instance sharing the folder.
 * Such files are removed by {@link LocalStorageProvider.check} (at start-up, then hourly at most).
 */
export const STALE_WRITE_MS = 60 * 60 * 1000;

export interface LocalStorageOptions {
  /** The folder the files are kept in (STORAGE_LOCAL_DIR). */
  root: string;
  /** The base of the URLs of /media, where the application serves them. */
  publicBaseUrl: string;
}

/**
 * How often a write makes its folder again when a concurrent delete removed it, empty, between the
 * mkdir and the rename. Losing that race needs a delete landing in a window of microseconds, so
 * one retry is nearly always enough; the bound ends the loop when a path component is really a
 * file (ENOTDIR for good).
 */
const PLACE_ATTEMPTS = 10;

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/**
 * Files under STORAGE_LOCAL_DIR, served by the application itself at /media/<key>. Writes go to a
 * temporary file first and are renamed into place, so a reader never sees half a file and an
 * aborted or failed write leaves nothing behind. A call's CallOptions.signal is ignored: a file
 * system call cannot be taken back, and it holds no connection another call would need.
 */
export class LocalStorageProvider implements StorageProvider {
  readonly driver = 'local';
  /** When check() last removed abandoned writes (never yet: at its first call). */
  private staleWritesRemovedAt = 0;
  /** The root's real path (it may itself be a symlink), found at the first read. */
  private realRoot?: Promise<string>;

  constructor(
    /** The folder the files are kept in, which /media serves (media-delivery.ts). */
    readonly root: string,
    private readonly publicBaseUrl: string,
  ) {}

  async put(key: string, body: Readable | Buffer, options: PutOptions): Promise<StoredObject> {
    const target = this.path(key);
    const tmpDir = join(this.root, LOCAL_TMP_DIR);
    const tmp = join(tmpDir, `${randomUUID()}.part`);
    const { signal } = options;
    try {
      await mkdir(tmpDir, { recursive: true });
      const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
      await pipeline(source, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }), { signal });
      // Aborted once written: the caller has given up on this key, so it must not appear.
      signal?.throwIfAborted();
      await this.moveIntoPlace(tmp, target);
      return { key, size: (await stat(target)).size };
    } catch (error) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw failure(`writing ${key}`, error);
    }
  }

  /**
   * Deletes the file, then the folders it leaves empty (`products/<p>/<i>/`, `products/<p>/`, …),
   * up to but not including the root. A missing file counts as deleted, and its empty folders are
   * still removed (finishing a delete that was interrupted between the two).
   */
  async delete(key: string): Promise<void> {
    const path = this.path(key);
    try {
      await unlink(path);
    } catch (error) {
      // ENOTDIR: a path component is a file, so nothing can be below it and no folder to remove.
      const code = errorCode(error);
      if (code === 'ENOTDIR') return;
      if (code !== 'ENOENT') throw failure(`deleting ${key}`, error);
    }
    await this.removeEmptyFolders(dirname(path));
  }

  async exists(key: string): Promise<boolean> {
    try {
      await access(this.path(key));
      return true;
    } catch {
      return false;
    }
  }

  url(key: string): Promise<string> {
    return Promise.resolve(`${this.publicBaseUrl}/media/${key}`);
  }

  /**
   * The files below the root whose keys start with `prefix` (never the write area), folder by
   * folder as the caller iterates, with their modification times. A file or folder deleted while
   * the listing runs is passed over.
   */
  async *list(prefix: string): AsyncIterable<ListedObject> {
    const folder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const start =
      folder === '' ? resolve(this.root) : resolveKeyPath(this.root, folder.slice(0, -1));
    if (start) yield* this.walk(start, folder, prefix);
  }

  /**
   * Opened first, then read through the open file: a deletion after the open (an image deleted,
   * the expiry sweep) leaves the read whole. Stat, then a stream opening the path a moment later,
   * met a deletion in between as a stream error (a 500 to a transform URL) rather than "missing".
   * A symlink leading out of the root reads as missing, as /media serves it (media-delivery.ts).
   */
  async read(key: string): Promise<ObjectStream | undefined> {
    const path = await this.realPathBelowRoot(key);
    if (!path) return undefined;
    // The real path, not followed again should its last part have become a link since.
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch(
      () => undefined,
    );
    if (!handle) return undefined;
    const info = await handle.stat().catch(() => undefined);
    if (!info?.isFile()) {
      await handle.close().catch(() => undefined);
      return undefined;
    }
    return {
      stream: handle.createReadStream(),
      size: info.size,
      contentType: CONTENT_TYPES[extname(key).slice(1)] ?? 'application/octet-stream',
      // Keys are never rewritten with other bytes; size, mtime and key identify the content.
      etag: fileEtag(key, info.size, info.mtimeMs),
      lastModified: info.mtime,
    };
  }

  /** Through @fastify/send (media-delivery.ts), as /media serves the same folder. */
  serve(key: string, request: MediaRequest): Promise<MediaAnswer> {
    return answerMediaRequest(this.root, key, request);
  }

  /**
   * Readiness, and at start-up (the first call) a file written and removed in the write area: a
   * folder where no file can be made (mounted read-only, another owner's, immutable) stops the
   * start, naming it, rather than failing every upload later.
   */
  async check(): Promise<void> {
    const tmpDir = join(this.root, LOCAL_TMP_DIR);
    const first = this.staleWritesRemovedAt === 0;
    try {
      await mkdir(tmpDir, { recursive: true });
      await access(this.root, constants.W_OK);
    } catch (error) {
      throw failure(`using ${this.root}`, error);
    }
    try {
      await access(tmpDir, constants.W_OK);
      if (first) await probeWrite(tmpDir);
    } catch (error) {
      throw failure(`writing in ${tmpDir}`, error);
    }
    if (Date.now() - this.staleWritesRemovedAt >= STALE_WRITE_MS) {
      // Awaited at start-up (the first check); later, from readiness, not waited for, so that a
      // slow disk cannot make the instance look unready. A failure waits for the next pass.
      this.staleWritesRemovedAt = Date.now();
      const removing = this.removeStaleWrites().catch(() => undefined);
      if (first) await removing;
    }
  }

  /**
   * The `.part` files older than {@link STALE_WRITE_MS}: a process killed mid-write leaves its file
   * there (the orphan sweep lists only keys, never the write area, and the spool's start-up sweep
   * only DATA_DIR's uploads).
   */
  private async removeStaleWrites(): Promise<void> {
    const dir = join(this.root, LOCAL_TMP_DIR);
    const before = Date.now() - STALE_WRITE_MS;
    // At most so many entries a pass (each pass reads the folder from its start), bounding its
    // work on a folder full of live writes.
    let looked = 0;
    for await (const entry of await opendir(dir)) {
      if (++looked > 1000) break;
      if (!entry.isFile() || !entry.name.endsWith('.part')) continue;
      const path = join(dir, entry.name);
      const modified = await stat(path).then(
        (info) => info.mtimeMs,
        () => Infinity,
      );
      if (modified < before) await rm(path, { force: true });
    }
  }

  /**
   * Renames the written file into its folder, creating the folder. A concurrent delete may remove
   * that folder, or a parent, while it is still empty (between our mkdir and our rename): the
   * rename then fails with ENOENT, or Node's recursive mkdir with ENOTDIR (it found a parent
   * existing, then gone when it checked that it is a folder). Either way, make the folders again.
   */
  private async moveIntoPlace(tmp: string, target: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(dirname(target), { recursive: true });
        await rename(tmp, target);
        return;
      } catch (error) {
        const code = errorCode(error);
        const raced = code === 'ENOENT' || code === 'ENOTDIR';
        if (!raced || attempt >= PLACE_ATTEMPTS) throw error;
      }
    }
  }

  /**
   * rmdir, which removes only an empty folder, from `dir` up towards the root. Safe beside
   * concurrent writes and deletes, here or in another instance sharing the folder: a folder that
   * gained a file (or a folder) is not empty and stays (ENOTEMPTY, EEXIST), which ends the walk;
   * one already removed by a concurrent delete (ENOENT) is passed over to its parent. Any other
   * failure leaves the folder: the file is gone, which is what the caller asked for, and an empty
   * folder is only clutter (a write into it would have recreated it anyway).
   */
  private async removeEmptyFolders(dir: string): Promise<void> {
    const root = resolve(this.root);
    for (let current = dir; isPathBelow(root, current); current = dirname(current)) {
      try {
        await rmdir(current);
      } catch (error) {
        if (errorCode(error) !== 'ENOENT') return;
      }
    }
  }

  /** Depth first below `dir`, whose key is `folder` (`''` or ending in `/`). */
  private async *walk(dir: string, folder: string, prefix: string): AsyncGenerator<ListedObject> {
    let entries;
    try {
      entries = await opendir(dir);
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return;
      throw failure(`listing ${folder || '/'}`, error);
    }
    for await (const entry of entries) {
      const key = `${folder}${entry.name}`;
      if (entry.isDirectory()) {
        const below = `${key}/`;
        const wanted = below.startsWith(prefix) || prefix.startsWith(below);
        if (wanted && key !== LOCAL_TMP_DIR) yield* this.walk(join(dir, entry.name), below, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const info = await stat(join(dir, entry.name)).catch(() => undefined);
        if (info) yield { key, lastModified: info.mtime };
      }
    }
  }

  /**
   * The real path (every symlink resolved) of the file of `key`, when it lies below the root's
   * own real path; else undefined, as for a missing file. A link placed in the folder (by hand, a
   * restore, a bug) could otherwise hand any file of the machine to whoever reads the key.
   */
  private async realPathBelowRoot(key: string): Promise<string | undefined> {
    const path = resolveKeyPath(this.root, key);
    if (!path) return undefined;
    this.realRoot ??= realpath(this.root).catch((error: unknown) => {
      this.realRoot = undefined;
      throw error;
    });
    const [base, real] = await Promise.all([this.realRoot, realpath(path)]).catch(() => []);
    return base && real && isPathBelow(base, real) ? real : undefined;
  }

  private path(key: string): string {
    const path = resolveKeyPath(this.root, key);
    if (!path) throw new Error(`invalid storage key: ${key}`);
    return path;
  }
}

/**
 * Makes an empty file in `dir`, as a write starts, and removes it (a `.part`, which the stale
 * writes' clean-up removes should this process end in between).
 */
async function probeWrite(dir: string): Promise<void> {
  const probe = join(dir, `${randomUUID()}.part`);
  await (await open(probe, 'wx', 0o644)).close();
  await rm(probe, { force: true }).catch(() => undefined);
}

function failure(action: string, error: unknown): StorageError {
  const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  return new StorageError(`Local storage failed ${action}: ${code}`, { cause: error });
}
