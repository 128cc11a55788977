import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { LocalStorageProvider } from './local.storage-provider';
import { deadlineStorage } from './deadline.storage-provider';
import {
  measuredStorage,
  type StorageObserver,
  type StorageOutcome,
} from './measured.storage-provider';
import type { CallOptions, StorageProvider } from '../storage-provider';

const PRODUCT = 'products/0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e';
const KEY = `${PRODUCT}/7c9e6679-7425-40de-944b-e07fc1f90ae7/card.webp`;
const OPTIONS = { contentType: 'image/webp', cacheControl: 'public' };

/** What the provider reported, in order. */
function recorder(): StorageObserver & { seen: [string, string, StorageOutcome][] } {
  const seen: [string, string, StorageOutcome][] = [];
  return {
    seen,
    observeStorage(provider, operation, seconds, outcome) {
      expect(seconds).toBeGreaterThanOrEqual(0);
      seen.push([provider, operation, outcome]);
    },
  };
}

describe(measuredStorage.name, () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'pis-measured-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('reports each storage operation and its failure, and passes the results on unchanged', async () => {
    const observer = recorder();
    const storage = measuredStorage(
      new LocalStorageProvider(root, 'https://images.example'),
      observer,
    );

    await storage.put(KEY, Buffer.from('webp bytes'), OPTIONS);
    expect(await storage.exists(KEY)).toBe(true);
    const listed: string[] = [];
    for await (const object of storage.list(PRODUCT)) listed.push(object.key);
    expect(listed).toEqual([KEY]);
    await storage.delete(KEY);
    const broken = new Readable({
      read() {
        this.destroy(new Error('the client went away'));
      },
    });
    await expect(storage.put(KEY, broken, OPTIONS)).rejects.toThrow('the client went away');

    expect(observer.seen).toEqual([
      ['local', 'put', 'ok'],
      ['local', 'exists', 'ok'],
      ['local', 'list', 'ok'],
      ['local', 'delete', 'ok'],
      ['local', 'put', 'error'],
    ]);
  });

  it("reports a read ended by its caller's signal as aborted, not an error; a deadline passing is one", async () => {
    const observer = recorder();
    // S3 as the application wraps it: a read answering only once its signal aborts.
    const hanging = {
      driver: 's3',
      read: (_key: string, options?: CallOptions) =>
        new Promise((_resolve, reject) =>
          options?.signal?.addEventListener('abort', () => reject(options.signal?.reason as Error)),
        ),
    } as unknown as StorageProvider;
    const storage = measuredStorage(deadlineStorage(hanging, 50), observer);

    const gone = new AbortController();
    const reading = storage.read!(KEY, { signal: gone.signal });
    gone.abort(new Error('requests gone'));
    await expect(reading).rejects.toBeDefined();
    await expect(storage.read!(KEY, { signal: new AbortController().signal })).rejects.toThrow();
    await expect(storage.read!(KEY)).rejects.toThrow();

    expect(observer.seen).toEqual([
      ['s3', 'read', 'aborted'],
      ['s3', 'read', 'error'],
      ['s3', 'read', 'error'],
    ]);
  });

  it('is still the provider it wraps: its class, its properties, and URLs made without a report', async () => {
    const observer = recorder();
    const storage = measuredStorage(
      new LocalStorageProvider(root, 'https://images.example'),
      observer,
    );
    expect(storage).toBeInstanceOf(LocalStorageProvider);
    expect(storage.driver).toBe('local');
    expect(storage.root).toBe(root);
    expect(await storage.url(KEY)).toBe(`https://images.example/media/${KEY}`);
    expect(observer.seen).toEqual([]);
  });

  it('reports a listing left early once, as completed', async () => {
    const observer = recorder();
    const storage = measuredStorage(new LocalStorageProvider(root, 'https://x.example'), observer);
    await storage.put(`${PRODUCT}/a/card.webp`, Buffer.from('a'), OPTIONS);
    await storage.put(`${PRODUCT}/b/card.webp`, Buffer.from('b'), OPTIONS);
    for await (const _ of storage.list(PRODUCT)) break;
    expect(observer.seen.filter(([, operation]) => operation === 'list')).toEqual([
      ['local', 'list', 'ok'],
    ]);
  });
});
