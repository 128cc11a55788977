import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CallOptions, ListedObject, ListOptions, ObjectStream } from '../storage-provider';
import { LOCAL_TMP_DIR, LocalStorageProvider } from './local.storage-provider';
import { deadlineStorage, StorageTimeoutError } from './deadline.storage-provider';

const KEY =
  'products/0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e/7c9e6679-7425-40de-944b-e07fc1f90ae7/card.webp';
const OPTIONS = { contentType: 'image/webp', cacheControl: 'public' };

/** A body that sends a few bytes, then nothing more, as a stalled connection would. */
function stalledBody(): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) this.push(Buffer.from('partial webp'));
      sent = true;
    },
  });
}

describe(deadlineStorage.name, () => {
  let root: string;
  let local: LocalStorageProvider;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'pis-deadline-'));
    local = new LocalStorageProvider(root, 'https://images.example');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('passes a write that finishes in time through unchanged', async () => {
    const storage = deadlineStorage(local, 5_000);
    await expect(storage.put(KEY, Buffer.from('webp'), OPTIONS)).resolves.toEqual({
      key: KEY,
      size: 4,
    });
    expect(await storage.exists(KEY)).toBe(true);
  });

  it('aborts a stalled write at its deadline, leaving no file and no partial write', async () => {
    // STORAGE_TIMEOUT_MS's least (1 s): the clean-up after the abort is waited for as long again,
    // and 50 ms of it were not always enough for the temporary file's removal on a busy machine.
    const storage = deadlineStorage(local, 1000);
    await expect(storage.put(KEY, stalledBody(), OPTIONS)).rejects.toBeInstanceOf(
      StorageTimeoutError,
    );
    expect(await local.exists(KEY)).toBe(false);
    expect(readdirSync(join(root, LOCAL_TMP_DIR))).toEqual([]);
  });

  /** The local provider, whose `read` and `serve` answer with `body` as the object's bytes. */
  function answeringWith(body: () => Readable): LocalStorageProvider {
    const object = (): ObjectStream => ({
      stream: body(),
      size: 100,
      contentType: 'image/webp',
      etag: '"x"',
      lastModified: new Date(),
    });
    return Object.assign(Object.create(local) as LocalStorageProvider, {
      // As a network driver's: local files are not guarded (see deadlineStorage).
      driver: 's3',
      read: () => Promise.resolve(object()),
      serve: () =>
        Promise.resolve({ kind: 'file' as const, status: 200, headers: {}, body: body() }),
    });
  }

  async function drain(stream: Readable, pause = 0): Promise<string> {
    let text = '';
    for await (const chunk of stream) {
      text += String(chunk);
      if (pause) await sleep(pause);
    }
    return text;
  }

  it('fails a read or a served body whose bytes stop coming, and destroys it (its connection)', async () => {
    const sources: Readable[] = [];
    const stalling = () => {
      const source = stalledBody();
      sources.push(source);
      return source;
    };
    const storage = deadlineStorage(answeringWith(stalling), 100);
    const read = await storage.read(KEY);
    await expect(drain(read!.stream)).rejects.toBeInstanceOf(StorageTimeoutError);
    const served = await storage.serve(KEY, { headers: {} });
    expect(served.kind).toBe('file');
    await expect(drain((served as { body: Readable }).body)).rejects.toThrow(
      /did not finish serve of .* within STORAGE_TIMEOUT_MS \(100 ms\)/,
    );
    expect(sources.map((source) => source.destroyed)).toEqual([true, true]);
  });

  it('does not count the time its reader takes between reads', async () => {
    // Bytes that are all there, taken by a reader slower than the deadline: not a stalled storage.
    const chunks = ['a', 'b', 'c', 'd'].map((c) => Buffer.alloc(64 * 1024, c));
    const storage = deadlineStorage(
      answeringWith(() => Readable.from(chunks)),
      100,
    );
    const read = await storage.read(KEY);
    const text = await drain(read!.stream, 250);
    expect(text).toBe(chunks.map(String).join(''));
  });

  it('destroys the body of an answer that comes after its deadline (its connection freed)', async () => {
    const sources: Readable[] = [];
    const late = Object.assign(Object.create(local) as LocalStorageProvider, {
      driver: 's3',
      read: async () => {
        await sleep(150);
        const stream = Readable.from([Buffer.from('webp')]);
        sources.push(stream);
        return {
          stream,
          size: 4,
          contentType: 'image/webp',
          etag: '"x"',
          lastModified: new Date(),
        };
      },
      serve: async () => {
        await sleep(150);
        const body = Readable.from([Buffer.from('webp')]);
        sources.push(body);
        return { kind: 'file' as const, status: 200, headers: {}, body };
      },
    });
    const storage = deadlineStorage(late, 50);
    await expect(storage.read(KEY)).rejects.toBeInstanceOf(StorageTimeoutError);
    await expect(storage.serve(KEY, { headers: {} })).rejects.toBeInstanceOf(StorageTimeoutError);
    await sleep(300);
    expect(sources.map((source) => source.destroyed)).toEqual([true, true]);
  });

  it('gives up waiting on any other operation that does not answer', async () => {
    const stuck = Object.assign(Object.create(local) as LocalStorageProvider, {
      exists: () => new Promise<boolean>(() => undefined),
    });
    const storage = deadlineStorage(stuck, 50);
    await expect(storage.exists(KEY)).rejects.toThrow(/STORAGE_TIMEOUT_MS \(50 ms\)/);
  });

  it('aborts an operation it gives up on through its signal, and only then', async () => {
    const signals: Record<string, AbortSignal | undefined> = {};
    const provider = Object.assign(Object.create(local) as LocalStorageProvider, {
      driver: 's3',
      exists: (_key: string, options?: CallOptions) => {
        signals.exists = options?.signal;
        return new Promise<boolean>(() => undefined);
      },
      check: (options?: CallOptions) => {
        signals.check = options?.signal;
        return new Promise<void>(() => undefined);
      },
      read: (_key: string, options?: CallOptions) => {
        signals.read = options?.signal;
        return Promise.resolve({
          stream: Readable.from([Buffer.from('webp')]),
          size: 4,
          contentType: 'image/webp',
          etag: '"x"',
          lastModified: new Date(),
        });
      },
    });
    const storage = deadlineStorage(provider, 50);
    await expect(storage.exists(KEY)).rejects.toBeInstanceOf(StorageTimeoutError);
    await expect(storage.check()).rejects.toBeInstanceOf(StorageTimeoutError);
    expect(signals.exists?.reason).toBeInstanceOf(StorageTimeoutError);
    expect(signals.check?.reason).toBeInstanceOf(StorageTimeoutError);
    // An answer in time: its bytes still flow on its request, which must not be aborted.
    const read = await storage.read(KEY);
    await sleep(100);
    expect(signals.read?.aborted).toBe(false);
    expect(await drain(read!.stream)).toBe('webp');
  });
  it('fails a listing whose next page does not come within the deadline, and aborts it', async () => {
    let signal: AbortSignal | undefined;
    const provider = Object.assign(Object.create(local) as LocalStorageProvider, {
      list: async function* (_prefix: string, options?: ListOptions) {
        signal = options?.signal;
        // A first page in time, then one the caller works through slower than the deadline…
        yield { key: 'a', lastModified: new Date() };
        yield { key: 'b', lastModified: new Date() };
        // …then a page that never comes.
        await new Promise(() => undefined);
      } as (prefix: string, options?: ListOptions) => AsyncIterable<ListedObject>,
    });
    const storage = deadlineStorage(provider, 100);
    const keys: string[] = [];
    const listing = (async () => {
      for await (const object of storage.list('derived/')) {
        keys.push(object.key);
        // The caller's own work between pages is not the storage's: not counted.
        await sleep(150);
      }
    })();
    await expect(listing).rejects.toThrow(
      /did not finish list of derived\/ within STORAGE_TIMEOUT_MS \(100 ms\)/,
    );
    expect(keys).toEqual(['a', 'b']);
    expect(signal?.reason).toBeInstanceOf(StorageTimeoutError);
  });

  it('gives each page request of a listing the deadline, not the wait for the next object', async () => {
    let signal: AbortSignal | undefined;
    const provider = Object.assign(Object.create(local) as LocalStorageProvider, {
      list: async function* (_prefix: string, options?: ListOptions) {
        signal = options?.signal;
        // Three pages, each in time, whose keys are all filtered out (Cloudinary's folder listed
        // for one prefix): one wait for the next object, longer than the deadline.
        for (let page = 0; page < 3; page++) {
          options?.onPage?.();
          await sleep(150);
        }
        yield { key: 'a', lastModified: new Date() };
        // Then a page that never comes: still failed at its deadline.
        options?.onPage?.();
        await new Promise(() => undefined);
      } as (prefix: string, options?: ListOptions) => AsyncIterable<ListedObject>,
    });
    const storage = deadlineStorage(provider, 300);
    const keys: string[] = [];
    const started = Date.now();
    const listing = (async () => {
      for await (const object of storage.list('derived/')) keys.push(object.key);
    })();
    await expect(listing).rejects.toBeInstanceOf(StorageTimeoutError);
    expect(keys).toEqual(['a']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(740);
    expect(signal?.reason).toBeInstanceOf(StorageTimeoutError);
  });
});
