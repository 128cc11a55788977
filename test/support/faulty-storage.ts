import { Readable } from 'node:stream';
import type { MediaRequest } from '../../src/storage/media-answer';
import type { CallOptions, PutOptions, StorageProvider } from '../../src/storage/storage-provider';

/**
 * How an injected fault meets a write:
 * - `error`: the storage refuses it at once (nothing reaches the real provider);
 * - `hang`: the real provider gets the first half of the bytes, then nothing more, ever: only
 *   the write's abort signal (STORAGE_TIMEOUT_MS) ends it;
 * - `midstream`: the real provider gets the first half of the bytes, then the connection breaks
 *   (the body stream fails), so it has written part of the object when it fails;
 * - `late`: the write ignores its abort and reaches the real provider whole `lateMs` later, as a
 *   proxy or store that had received every byte and applies the write after the service gave up.
 */
export type FaultMode = 'error' | 'hang' | 'midstream' | 'late';

export interface Fault {
  /** Which keys it meets (the original, one rendition…); any key when absent. */
  match?: RegExp;
  mode: FaultMode;
  /** How many matching calls fail before the fault is spent (default 1). */
  times?: number;
  /** `late`: when the write reaches the real provider (default 10 s). */
  lateMs?: number;
  /**
   * `late`: the write also waits for the service's first deletion of its key to settle, so that
   * it lands after that deletion whatever the machine's load (a deletion job that ran late could
   * otherwise follow the landing and delete the file at once, leaving nothing for the later one).
   */
  afterDeletion?: boolean;
}

interface ArmedFault extends Required<Omit<Fault, 'match' | 'lateMs' | 'afterDeletion'>> {
  match?: RegExp;
  lateMs?: number;
  afterDeletion?: boolean;
  operation: string;
}

/**
 * Fault injection around the real storage provider (passed to createApp as `wrapStorage`): every
 * call goes to the provider as it is, except those that meet a fault armed with
 * {@link FaultyStorage.failNext}: on `put`, the operation uploads depend on, on reads, and on
 * `delete`.
 */
export class FaultyStorage {
  private faults: ArmedFault[] = [];
  /** Keys of the writes that met a fault, in order. */
  readonly failed: string[] = [];
  /** Keys of every write asked of the storage, in order. */
  readonly puts: string[] = [];
  /**
   * The `late` writes, each settled once the storage has answered it: its object may show in the
   * storage before that (s3rver writes the bytes, then the metadata), and a deletion sent in
   * between is undone by the write's end.
   */
  readonly lateWrites: Promise<unknown>[] = [];
  /** The signals given to the `check`s that met a `hang` fault, in order. */
  readonly checkSignals: (AbortSignal | undefined)[] = [];
  /** Per key, the settling of the deletions of it asked so far, and who waits for the next. */
  private readonly deletions = new Map<string, { settled: number; waiting: (() => void)[] }>();

  /**
   * `put`: the write meets the fault. `read` and `serve` (`hang` only): the object's bytes stop
   * after their first chunk, as a connection that stalls after the storage's headers. `delete`
   * (`error` only): the storage refuses to delete the object, which stays. `check` (`hang`
   * only): the readiness check gets no answer until its signal aborts (kept in `checkSignals`).
   */
  failNext(operation: 'put' | 'read' | 'serve' | 'delete' | 'check', fault: Fault): void {
    this.faults.push({ ...fault, operation, times: fault.times ?? 1 });
  }

  /** Disarms every fault not met yet. */
  heal(): void {
    this.faults = [];
  }

  /** For CreateAppOptions.wrapStorage. */
  readonly wrap = <P extends StorageProvider>(provider: P): P => {
    const put = (key: string, body: Readable | Buffer, options: PutOptions) => {
      this.puts.push(key);
      const fault = this.take('put', key);
      if (!fault) return provider.put(key, body, options);
      this.failed.push(key);
      if (fault.mode === 'error') return Promise.reject(injected(`writing ${key} refused`));
      if (fault.mode === 'late') {
        const landing = fault.afterDeletion ? this.deletionOf(key) : Promise.resolve();
        const written = lateWrite(body, fault.lateMs ?? 10_000, async (bytes) => {
          await landing;
          return provider.put(key, bytes, { ...options, signal: undefined });
        });
        this.lateWrites.push(written.catch(() => undefined));
        return written;
      }
      return provider.put(key, brokenBody(body, fault.mode, options.signal), options);
    };
    // The deadline's signal passed on, as the real provider gets it without this wrapper.
    const read = async (key: string, options?: CallOptions) => {
      const object = await provider.read!(key, options);
      const fault = object && this.take('read', key);
      return fault ? { ...object, stream: stalledAfterFirstChunk(object.stream) } : object;
    };
    const serve = async (key: string, request: MediaRequest, options?: CallOptions) => {
      const answer = await provider.serve!(key, request, options);
      const fault = answer.kind === 'file' && answer.body && this.take('serve', key);
      return fault && answer.kind === 'file' && answer.body
        ? { ...answer, body: stalledAfterFirstChunk(answer.body) }
        : answer;
    };
    const remove = (key: string, options?: CallOptions) => {
      const done = this.take('delete', key)
        ? Promise.reject(injected(`deleting ${key} refused`))
        : provider.delete(key, options);
      return done.finally(() => this.deletionSettled(key));
    };
    const check = (options?: CallOptions) => {
      if (!this.take('check', '')) return provider.check(options);
      this.checkSignals.push(options?.signal);
      return new Promise<void>((_, reject) => {
        const signal = options?.signal;
        signal?.addEventListener('abort', () => reject(injected('check given up')), { once: true });
      });
    };
    const replaced: Record<string, unknown> = {
      put,
      delete: remove,
      check,
      ...(provider.read ? { read } : {}),
      ...(provider.serve ? { serve } : {}),
    };
    return new Proxy(provider, {
      get: (target, property) =>
        typeof property === 'string' && Object.hasOwn(replaced, property)
          ? replaced[property]
          : (Reflect.get(target, property, target) as unknown),
    });
  };

  /** Settles once a deletion of `key` has (at once if one already has). */
  private deletionOf(key: string): Promise<void> {
    const entry = this.deletions.get(key) ?? { settled: 0, waiting: [] };
    this.deletions.set(key, entry);
    if (entry.settled > 0) return Promise.resolve();
    return new Promise((resolve) => entry.waiting.push(resolve));
  }

  private deletionSettled(key: string): void {
    const entry = this.deletions.get(key) ?? { settled: 0, waiting: [] };
    this.deletions.set(key, { settled: entry.settled + 1, waiting: [] });
    for (const resolve of entry.waiting) resolve();
  }

  private take(operation: string, key: string): ArmedFault | undefined {
    const fault = this.faults.find(
      (f) => f.operation === operation && (!f.match || f.match.test(key)),
    );
    if (fault && --fault.times === 0) this.faults.splice(this.faults.indexOf(fault), 1);
    return fault;
  }
}

/** The body's bytes written by `write` after `ms`, whatever the write's abort signal says. */
async function lateWrite<T>(
  body: Readable | Buffer,
  ms: number,
  write: (bytes: Buffer) => Promise<T>,
): Promise<T> {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.concat(await body.toArray());
  await new Promise((resolve) => setTimeout(resolve, ms));
  return write(bytes);
}

function injected(message: string): Error {
  return Object.assign(new Error(`${message} (injected fault)`), { code: 'ECONNRESET' });
}

/**
 * The body as a stream that delivers its first half, then either breaks (`midstream`) or stalls
 * until `signal` aborts it (`hang`), as a connection to the storage would.
 */
function brokenBody(
  body: Readable | Buffer,
  mode: Exclude<FaultMode, 'error' | 'late'>,
  signal: AbortSignal | undefined,
): Readable {
  // A stream body is drained unread: only how its write fails matters here.
  if (!Buffer.isBuffer(body)) body.resume();
  const bytes = Buffer.isBuffer(body) ? body : Buffer.alloc(2);
  const half = bytes.subarray(0, Math.max(1, Math.floor(bytes.length / 2)));
  let sent = false;
  const stream = new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(half);
      } else if (mode === 'midstream') {
        setImmediate(() => this.destroy(injected('connection broken mid-write')));
      }
      // `hang`: nothing more is pushed; the stream waits for its abort.
    },
  });
  const stop = () =>
    stream.destroy(signal?.reason instanceof Error ? signal.reason : injected('aborted'));
  if (signal?.aborted) stop();
  else signal?.addEventListener('abort', stop, { once: true });
  return stream;
}

/**
 * `source`'s first chunk, then nothing, ever (until destroyed): the storage's answer began and
 * its bytes stopped. `source` itself is destroyed with it, as a dropped connection's would be.
 */
function stalledAfterFirstChunk(source: Readable): Readable {
  let sent = false;
  const stream = new Readable({
    read() {
      if (sent) return;
      sent = true;
      source.once('readable', () => {
        const chunk = source.read() as Buffer | null;
        this.push(chunk ?? Buffer.alloc(0));
      });
    },
    destroy(error, done) {
      source.destroy();
      done(error);
    },
  });
  return stream;
}
