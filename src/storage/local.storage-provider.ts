import { randomUUID } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { access, mkdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CONTENT_TYPES,
  StorageError,
  type ObjectStream,
  type PutOptions,
  type StorageProvider,
  type StoredObject,
} from './storage-provider';
import type { RenditionTransform } from '../images/rendition-presets';
import { resolveKeyPath } from './storage-keys';

export const LOCAL_TMP_DIR = '.tmp';

/**
 * Files under STORAGE_LOCAL_DIR, served by the application itself at /media/<key>. Writes go to a
 * temporary file first and are renamed into place, so a reader never sees half a file and an
 * aborted or failed write leaves nothing behind.
 */
export class LocalStorageProvider implements StorageProvider {
  readonly driver = 'local';
  readonly derivesRenditions = false;
  readonly invalidatesOnOverwrite = false;

  constructor(
    private readonly root: string,
    private readonly publicBaseUrl: string,
  ) {}

  async put(key: string, body: Readable | Buffer, _options: PutOptions): Promise<StoredObject> {
    const target = this.path(key);
    const tmpDir = join(this.root, LOCAL_TMP_DIR);
    const tmp = join(tmpDir, `${randomUUID()}.part`);
    try {
      await mkdir(tmpDir, { recursive: true });
      const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
      await pipeline(source, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
      await mkdir(dirname(target), { recursive: true });
      await rename(tmp, target);
      return { key, size: (await stat(target)).size };
    } catch (error) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw failure(`writing ${key}`, error);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.path(key));
    } catch (error) {
      // Not there (ENOTDIR: a path component is a file, so nothing can be below it).
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw failure(`deleting ${key}`, error);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await access(this.path(key));
      return true;
    } catch {
      return false;
    }
  }

  url(key: string, transform?: RenditionTransform): Promise<string> {
    if (transform) throw new Error('local storage stores renditions; it does not derive them');
    return Promise.resolve(`${this.publicBaseUrl}/media/${key}`);
  }

  async read(key: string): Promise<ObjectStream | undefined> {
    const path = resolveKeyPath(this.root, key);
    if (!path) return undefined;
    let info;
    try {
      info = await stat(path);
    } catch {
      return undefined;
    }
    if (!info.isFile()) return undefined;
    return {
      stream: createReadStream(path),
      size: info.size,
      contentType: CONTENT_TYPES[extname(path).slice(1)] ?? 'application/octet-stream',
      // Keys are never rewritten with other bytes; size and mtime identify the content.
      etag: `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`,
      lastModified: info.mtime,
    };
  }

  async check(): Promise<void> {
    try {
      await mkdir(join(this.root, LOCAL_TMP_DIR), { recursive: true });
      await access(this.root, constants.W_OK);
    } catch (error) {
      throw failure(`using ${this.root}`, error);
    }
  }

  private path(key: string): string {
    const path = resolveKeyPath(this.root, key);
    if (!path) throw new Error(`invalid storage key: ${key}`);
    return path;
  }
}

function failure(action: string, error: unknown): StorageError {
  const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  return new StorageError(`Local storage failed ${action}: ${code}`, { cause: error });
}
