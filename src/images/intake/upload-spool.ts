import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { Logger } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../../common/errors/app.error';
import { RepeatLimiter } from '../../common/logging/repeat-limiter';
import { safeError } from '../../common/logging/safe-error';

const SPOOL = Symbol('uploadSpool');
const HANDLING = Symbol('uploadSpoolHandling');
/** Set on the request once its handler is over: no file may be made after its last release. */
const HANDLED = Symbol('uploadSpoolHandled');

/** Where uploads are spooled while they are checked: `<DATA_DIR>/tmp/uploads`. */
export function uploadTempDir(config: { readonly DATA_DIR: string }): string {
  return resolve(join(config.DATA_DIR, 'tmp', 'uploads'));
}

/**
 * The spool's folder can be made and a file written in it (then removed): what the start checks
 * (UploadSpoolSweeper), and `/health/ready` while running. Throws the file system's error.
 */
export async function checkSpoolWritable(dir: string): Promise<void> {
  const probe = join(dir, `.write-check-${randomUUID()}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(probe, '', { flag: 'wx', mode: 0o600 });
  await rm(probe, { force: true });
}

/** Errors of a file system with no room left: the disk is full, or the service's quota spent. */
const NO_ROOM: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT']);

/**
 * File system errors that say the spool's folder is unusable: permissions, a read-only or failing
 * disk, a file in its place (EEXIST from making the folder).
 */
const UNUSABLE: ReadonlySet<string> = new Set([
  'EEXIST',
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOTDIR',
  'EISDIR',
  'ENOENT',
  'EIO',
  'EMFILE',
  'ENFILE',
]);

/**
 * Whether writing a spool file failed because the spool's folder cannot be used (an error of a
 * file system call, not of the request): the service's condition, never a 400 that blames the
 * body (see {@link spoolUnavailable}).
 */
export function isSpoolUnusable(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 5; e = (e as Error).cause, depth++) {
    const { code, syscall } = e as NodeJS.ErrnoException;
    if (typeof syscall === 'string' && typeof code === 'string' && UNUSABLE.has(code)) return true;
  }
  return false;
}

/**
 * Seconds a client is asked to wait before sending an upload again when the spool had no room:
 * uploads in flight finish and remove their files within about that long, and an operator's
 * alert has fired (README, "Operating it").
 */
export const SPOOL_FULL_RETRY_AFTER_SECONDS = 60;

/** Whether writing a file failed for lack of room, the error itself or what it wraps. */
export function isNoRoom(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 5; e = (e as Error).cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && NO_ROOM.has(code)) return true;
  }
  return false;
}

/**
 * A spool write's failure as the client should hear it: no room on the spool's disk is 503
 * `upload_spool_full`, its folder unusable 503 `upload_spool_unavailable`, both with Retry-After
 * (never a 400 blaming the body, nor a 500); the connection is closed, as the rest of the body is
 * not read. Any other error is returned as it is.
 */
export function spoolWriteProblem(error: unknown): unknown {
  return spoolProblem(error, { Connection: 'close' });
}

/** As {@link spoolWriteProblem}, with `headers` added to the answer's Retry-After. */
export function spoolProblem(error: unknown, headers: Record<string, string> = {}): unknown {
  if (error instanceof AppError) return error;
  const retry = { 'Retry-After': String(SPOOL_FULL_RETRY_AFTER_SECONDS), ...headers };
  if (isNoRoom(error)) {
    return new AppError(
      'upload_spool_full',
      'The server has no room to receive the upload now; send it again later.',
      [],
      retry,
    );
  }
  if (isSpoolUnusable(error)) return spoolUnavailable(error, retry);
  return error;
}

const logger = new Logger('UploadSpool');
/** One line a minute while the folder stays unusable: every upload meets it, for one fact. */
const unusableLog = new RepeatLimiter(60_000);

/**
 * The spool's folder unusable while running (removed with its disk, made read-only, replaced by
 * a file, out of file handles): the start checks it, but a disk can change under a running
 * process. Not the client's fault, nor a bug to look up by request id: the service cannot take
 * uploads until an operator repairs the folder, which `/health/ready` reports meanwhile (so a load
 * balancer sends them to another instance). The cause (EROFS, ENOTDIR…) goes to the log.
 */
function spoolUnavailable(cause: unknown, headers: Record<string, string>): AppError {
  const held = unusableLog.take();
  if (held !== undefined) {
    logger.warn({ err: safeError(cause), held_back: held }, 'The upload spool cannot be written');
  }
  return new AppError(
    'upload_spool_unavailable',
    'The server cannot receive uploads now; send it again later.',
    [],
    headers,
  );
}

type TrackedRequest = IncomingMessage & {
  [SPOOL]?: RequestSpool;
  [HANDLING]?: number;
  [HANDLED]?: boolean;
};

/**
 * The temporary files of one request (an upload spooled to disk, an image decoded from a data
 * URI), owned by the request that made them and removed when it is over, whichever way it ends:
 *
 * - when the route's handler returns or throws, before the response goes out
 *   ({@link whileHandling}, run around every handler by UploadSpoolInterceptor);
 * - when a response is sent without the handler having run (a body parser's or a guard's
 *   refusal): {@link releaseUnlessHandling} in an onSend hook;
 * - when the connection closes before the body has arrived whole (the client went away, a timeout
 *   cut it): the response's 'close', which always fires, where Fastify's onResponse and
 *   onRequestAbort may not. Once the body is in whole, the request goes on to its handler or to
 *   an answer whoever listens, and either releases the files: a client that leaves then does not
 *   take them from under the handler, which may not have started yet.
 *
 * Once the handler is over, the spool makes no more files: a pipe that goes on reading the body
 * after the handler failed on another parameter cannot leave one behind.
 *
 * A file's writer also removes it when writing fails; the periodic sweep of the folder
 * (UploadSpoolSweeper) is only a safety net for a crash.
 */
/**
 * Every spool file of this process not yet released, whichever request owns it: what a forced
 * exit removes (removeLiveSpoolFiles), since no request's release runs then.
 */
const LIVE_FILES = new Set<string>();

/**
 * Removes, synchronously, every spool file of the requests still in flight, and says how many
 * there were: called just before a forced exit (a shutdown past SHUTDOWN_TIMEOUT_MS, a
 * second signal), which would otherwise leave them to the hourly sweep. Never throws.
 */
export function removeLiveSpoolFiles(): { files: number } {
  const files = [...LIVE_FILES];
  LIVE_FILES.clear();
  for (const path of files) {
    try {
      rmSync(path, { force: true });
    } catch {
      // Left to the sweep.
    }
  }
  return { files: files.length };
}

/**
 * A file of the spool that is no request's (a URL import's download, a stored original read back
 * for a transform or a rebuild), added to those a forced exit removes. Returns `path`; remove it
 * with {@link releaseSpoolFile}.
 */
export function trackSpoolFile(path: string): string {
  LIVE_FILES.add(path);
  return path;
}

/** Removes a spool file now, and from those a forced exit removes. Never throws. */
export async function releaseSpoolFile(path: string): Promise<void> {
  await rm(path, { force: true }).catch(() => undefined);
  LIVE_FILES.delete(path);
}

export class RequestSpool {
  /** Each file, with what stops its writer if the request ends while it is still written. */
  private readonly files = new Map<string, (() => Promise<void> | void) | undefined>();
  private watching = false;

  private constructor(private readonly raw: TrackedRequest) {}

  /**
   * The request's spool, made on first use. Given the response, the spool is also released when
   * the connection closes before the request's body has arrived whole.
   */
  static of(request: FastifyRequest, response?: ServerResponse): RequestSpool {
    const raw = request.raw as TrackedRequest;
    const spool = (raw[SPOOL] ??= new RequestSpool(raw));
    if (response && !spool.watching) {
      spool.watching = true;
      response.once('close', () => {
        if (!raw.complete) void spool.releaseUnlessHandling();
      });
    }
    return spool;
  }

  /**
   * A new file in `dir` (created if missing) with this extension, owned by the request. `abort`
   * stops its writer (and resolves once it is closed), should the request end while the file is
   * still being written.
   */
  async create(
    dir: string,
    extension: string,
    abort?: () => Promise<void> | void,
  ): Promise<string> {
    await mkdir(dir, { recursive: true });
    // A pipe still reading the body after its handler failed on another parameter (Nest resolves
    // them together) would make a file that nothing removes.
    if (this.raw[HANDLED])
      throw new Error('The request is over: it takes no more temporary files.');
    const path = join(dir, `${randomUUID()}${extension}`);
    this.files.set(path, abort);
    LIVE_FILES.add(path);
    return path;
  }

  /** Removes every file of the request now (their writers stopped first). Never throws. */
  async release(): Promise<void> {
    const files = [...this.files];
    this.files.clear();
    await Promise.all(
      files.map(async ([path, abort]) => {
        await Promise.resolve(abort?.()).catch(() => undefined);
        await rm(path, { force: true }).catch(() => undefined);
        LIVE_FILES.delete(path);
      }),
    );
  }

  private releaseUnlessHandling(): Promise<void> {
    return this.raw[HANDLING] ? Promise.resolve() : this.release();
  }

  /** Releases the request's files, if it has any and its handler is not running. */
  static releaseUnlessHandling(request: FastifyRequest): Promise<void> {
    return (request.raw as TrackedRequest)[SPOOL]?.releaseUnlessHandling() ?? Promise.resolve();
  }

  /**
   * Runs the route's handler (pipes included): files made before or during it stay while it
   * runs, even if the client goes away, and are removed as soon as it returns or throws.
   */
  static async whileHandling<T>(request: FastifyRequest, work: () => Promise<T>): Promise<T> {
    const raw = request.raw as TrackedRequest;
    raw[HANDLING] = (raw[HANDLING] ?? 0) + 1;
    try {
      return await work();
    } finally {
      raw[HANDLING]--;
      if (!raw[HANDLING]) raw[HANDLED] = true;
      await raw[SPOOL]?.release();
    }
  }
}
