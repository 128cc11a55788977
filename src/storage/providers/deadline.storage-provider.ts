import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MediaAnswer } from '../media-answer';
import {
  CALL_OPTIONS_AT,
  StorageError,
  type CallOptions,
  type ListedObject,
  type ListOptions,
  type ObjectStream,
  type PutOptions,
  type StorageProvider,
  type StoredObject,
} from '../storage-provider';

/** The operations that wait on the storage and end in one answer (not a stream or a listing). */
const BOUNDED: ReadonlySet<string> = new Set(['put', 'delete', 'exists', 'check']);
/** The operations that answer with a stream of the object's bytes. */
const STREAMED: ReadonlySet<string> = new Set(['read', 'serve']);

type Method = (...args: unknown[]) => Promise<unknown>;
type ListMethod = (prefix: string, options?: ListOptions) => AsyncIterable<ListedObject>;

/**
 * The provider with STORAGE_TIMEOUT_MS applied to every operation that waits on the storage, for
 * every driver: the SDKs' own timeouts cover one HTTP request (S3 retries up to three; local disk
 * has none), not an operation that stalls (an NFS mount that stopped answering, a body that stops
 * flowing), which would hold the upload, its spooled file and a processing slot for ever.
 *
 * A `put` past its deadline is aborted through PutOptions.signal, so the provider stops writing
 * and removes what it wrote; the answer waits for that (a second deadline at most, should the
 * provider ignore the signal) so that a failed write has left nothing when the caller hears of it.
 * The other operations write nothing: past the deadline they are aborted through
 * CallOptions.signal and not waited for. On S3 the abort ends the request and gives its turn
 * (s3-calls.ts) back at once: left to the SDK's own timeouts and retries (three times the
 * request's), calls that hung in an outage held all 50 turns, so that later calls were refused as
 * our pool full (`503 server_busy`) where the storage was down, and still after it recovered.
 *
 * A listing gets it for each page: the wait for its next object fails once `timeoutMs` has
 * passed since it began or since the provider's latest page request in it (ListOptions.onPage,
 * so that a wait spanning pages of other keys, Cloudinary's, fails only for a page that is late),
 * and aborts the listing through ListOptions.signal, which ends that request. The time its caller
 * takes between objects (the orphan sweep deleting a batch) is not counted. A page that hung held
 * the sweep, or a file deletion job, for ever, and on S3 its turn (s3-calls.ts) with it.
 *
 * On the network drivers, `read` and `serve` get the deadline until their answer (an object's
 * headers; aborted as the others when it has not come), then their bytes one too: a stream that
 * gives nothing for `timeoutMs` while it is being read fails (and is destroyed, which frees its
 * connection: S3's pool has 50) with a StorageTimeoutError. A reader that is slow to take the
 * bytes (a client on a slow link) is not the storage stalling: the clock runs only while the
 * stream is asked for more.
 */
export function deadlineStorage<P extends StorageProvider>(provider: P, timeoutMs: number): P {
  return new Proxy(provider, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof property !== 'string' || typeof value !== 'function') return value;
      if (STREAMED.has(property)) {
        // Local files are read from the kernel, not a connection: no pool to exhaust, and a
        // wrapper per answer cost 13 % of cached transform results' throughput (npm run bench).
        if (target.driver === 'local') return value;
        return streamedWithin(value as Method, target, property, timeoutMs);
      }
      if (property === 'list') return listedWithin(value as ListMethod, target, timeoutMs);
      if (!BOUNDED.has(property)) return value;
      const method = (value as Method).bind(target);
      if (property === 'put') {
        return (key: string, body: unknown, options: PutOptions) =>
          putWithin(timeoutMs, `writing ${key}`, target.driver, (signal) =>
            method(key, body, { ...options, signal: combined(options.signal, signal) }),
          );
      }
      return (...args: unknown[]) => {
        const action = typeof args[0] === 'string' ? `${property} of ${args[0]}` : property;
        return within(timeoutMs, action, target.driver, (signal) =>
          method(...withSignal(args, CALL_OPTIONS_AT[property], signal)),
        );
      };
    },
  });
}

/**
 * `list`, each wait for its next object within the deadline, counted afresh from each page
 * request the provider makes meanwhile (ListOptions.onPage; see deadlineStorage). One timer for
 * the whole listing, restarted (`refresh`) rather than made again for every object.
 */
function listedWithin(value: ListMethod, target: StorageProvider, timeoutMs: number): ListMethod {
  const method = value.bind(target);
  return (prefix, options) => ({
    [Symbol.asyncIterator](): AsyncIterator<ListedObject> {
      const listing = new AbortController();
      const action = `list of ${prefix}`;
      let timer: NodeJS.Timeout | undefined;
      /** Fails the wait under way (`for await` waits for one object at a time); unset between. */
      let failWait: ((error: Error) => void) | undefined;
      const stop = () => {
        clearTimeout(timer);
        timer = undefined;
        failWait = undefined;
      };
      const expired = () => {
        const fail = failWait;
        if (!fail) return; // fired between waits: nothing was being waited for
        stop();
        const error = new StorageTimeoutError(target.driver, action, timeoutMs);
        listing.abort(error);
        fail(error);
      };
      const iterator = method(prefix, {
        ...options,
        signal: combined(options?.signal, listing.signal),
        onPage: () => {
          if (failWait) timer?.refresh();
          options?.onPage?.();
        },
      })[Symbol.asyncIterator]();
      return {
        next: async () => {
          const deadline = new Promise<never>((_resolve, reject) => (failWait = reject));
          const wait = failWait;
          // Held while waited for; between waits it keeps no process alive.
          timer = (timer?.refresh() ?? setTimeout(expired, timeoutMs)).ref();
          // Settled late (past its deadline, already failed): no later wait's business.
          const ours = () => failWait === wait;
          try {
            const step = await Promise.race([iterator.next(), deadline]);
            if (step.done) stop();
            return step;
          } catch (error) {
            if (ours()) stop();
            throw error;
          } finally {
            if (ours()) {
              failWait = undefined;
              timer?.unref();
            }
          }
        },
        return: (value?: unknown) => {
          stop();
          return iterator.return?.(value) ?? Promise.resolve({ done: true, value: undefined });
        },
      };
    },
  });
}

/** `read` or `serve`, its answer within the deadline and its bytes held to it as they flow. */
function streamedWithin(
  value: Method,
  target: StorageProvider,
  property: string,
  timeoutMs: number,
): Method {
  const method = value.bind(target);
  return async (...args: unknown[]) => {
    const action = `${property} of ${String(args[0])}`;
    let pending: Promise<unknown> | undefined;
    let answer: unknown;
    try {
      answer = await within(timeoutMs, action, target.driver, (signal) => {
        pending = method(...withSignal(args, CALL_OPTIONS_AT[property], signal));
        return pending;
      });
    } catch (error) {
      // Given up: an answer that still comes (from a provider that ignores the abort, or one
      // that came as it was sent) holds its pooled connection until its bytes are read, and no
      // one will read them. 50 such answers took S3's whole pool: every upload and readiness
      // check timed out after S3 recovered.
      void pending?.then(
        (late) => bodyOf(property, late)?.destroy(),
        () => undefined,
      );
      throw error;
    }
    const guard = (stream: Readable) =>
      stallGuarded(
        stream,
        timeoutMs,
        () => new StorageTimeoutError(target.driver, action, timeoutMs),
      );
    if (property === 'read') {
      const object = answer as ObjectStream | undefined;
      return object && { ...object, stream: guard(object.stream) };
    }
    const served = answer as MediaAnswer;
    if (served.kind !== 'file' || !served.body) return served;
    return { ...served, body: await started(guard(served.body)) };
  };
}

/**
 * `body`, once its first bytes have come (or it has ended, empty): a body that fails or stalls
 * before then fails the `serve`, so that the answer is the storage's failure (502), where an
 * answer already handed to the client with no byte to send became a 500. After the first bytes,
 * a failure can only cut the answer off (its status is sent). The same stream, not a copy piped
 * on: 'readable' says a first chunk (or the end) waits in its buffer, where its reader finds it.
 */
function started(body: Readable): Promise<Readable> {
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      body.off('readable', begun).off('error', settle);
      if (error) reject(error);
      else resolve(body);
    };
    const begun = () => settle();
    body.once('readable', begun).once('error', settle);
  });
}

/** The bytes of a `read`'s or a `serve`'s answer, if it has any. */
function bodyOf(property: string, answer: unknown): Readable | undefined {
  if (property === 'read') return (answer as ObjectStream | undefined)?.stream;
  const served = answer as MediaAnswer;
  return served.kind === 'file' ? served.body : undefined;
}

/** `source`'s bytes, failing with `stalled()` (and `source` destroyed) past `timeoutMs` without one. */
function stallGuarded(source: Readable, timeoutMs: number, stalled: () => Error): Readable {
  const guard = new StallGuard(timeoutMs, stalled);
  pipeline(source, guard, () => undefined);
  return guard;
}

/**
 * Passes bytes through, and fails once it has waited `timeoutMs` for the next while its reader
 * asks for more (Transform calls `_read` then). Written here: no stream library bounds the wait
 * for data without also counting the time its reader takes.
 */
class StallGuard extends Transform {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly timeoutMs: number,
    private readonly stalled: () => Error,
  ) {
    super();
  }

  override _read(size: number): void {
    if (!this.timer && !this.writableFinished) {
      this.timer = setTimeout(() => this.destroy(this.stalled()), this.timeoutMs);
    }
    super._read(size);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.stop();
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.stop();
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.stop();
    done(error);
  }

  private stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function combined(given: AbortSignal | undefined, deadline: AbortSignal): AbortSignal {
  return given ? AbortSignal.any([given, deadline]) : deadline;
}

/** `args` with CallOptions at `at` whose signal also aborts with `deadline`. */
function withSignal(args: unknown[], at: number, deadline: AbortSignal): unknown[] {
  const given = args[at] as CallOptions | undefined;
  const passed = args.slice();
  passed[at] = { ...given, signal: combined(given?.signal, deadline) };
  return passed;
}

/** An operation outlived STORAGE_TIMEOUT_MS. */
export class StorageTimeoutError extends StorageError {
  constructor(driver: string, action: string, timeoutMs: number) {
    super(
      `Storage (${driver}) did not finish ${action} within STORAGE_TIMEOUT_MS (${timeoutMs} ms)`,
    );
    this.name = 'StorageTimeoutError';
  }
}

/**
 * `call`'s answer, or a timeout error once `timeoutMs` has passed: then the signal given to `call`
 * aborts (with that error), and `call` is left to settle.
 */
async function within<T>(
  timeoutMs: number,
  action: string,
  driver: string,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const timer = new AbortController();
  const given = new AbortController();
  const answer = call(given.signal);
  try {
    return await Promise.race([
      answer,
      sleep(timeoutMs, undefined, { signal: timer.signal }).then(() => {
        const error = new StorageTimeoutError(driver, action, timeoutMs);
        given.abort(error);
        throw error;
      }),
    ]);
  } finally {
    timer.abort();
  }
}

/**
 * A write, aborted at its deadline: then the error is a timeout once the provider has cleaned up
 * (or a second `timeoutMs` has passed), even if the write happened to succeed meanwhile (the
 * caller deletes every key it tried, see ImageStorage.store).
 */
async function putWithin(
  timeoutMs: number,
  action: string,
  driver: string,
  call: (signal: AbortSignal) => Promise<unknown>,
): Promise<StoredObject> {
  const abort = new AbortController();
  const write = call(abort.signal) as Promise<StoredObject>;
  try {
    return await within(timeoutMs, action, driver, () => write);
  } catch (error) {
    if (error instanceof StorageTimeoutError) {
      abort.abort(error);
      await within(timeoutMs, action, driver, () => write).catch(() => undefined);
    }
    throw error;
  }
}
