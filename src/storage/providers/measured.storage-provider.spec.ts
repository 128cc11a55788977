import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { LocalStorageProvider } from './local.storage-provider';
import { measuredStorage, type StorageObserver } from './measured.storage-provider';

const PRODUCT = 'products/0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e';
const KEY = `${PRODUCT}/7c9e6679-7425-40de-944b-e07fc1f90ae7/card.webp`;
const OPTIONS = { contentType: 'image/webp', cacheControl: 'public' };

/** What the provider reported, in order. */
function recorder(): StorageObserver & { seen: [string, string, boolean][] } {
  const seen: [string, string, boolean][] = [];
  return {
    seen,
    observeStorage(provider, operation, seconds, failed) {
      expect(seconds).toBeGreaterThanOrEqual(0);
      seen.push([provider, operation, failed]);
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
      ['local', 'put', false],
      ['local', 'exists', false],
      ['local', 'list', false],
      ['local', 'delete', false],
      ['local', 'put', true],
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
      ['local', 'list', false],
    ]);
  });
});
