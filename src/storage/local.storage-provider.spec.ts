import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { LOCAL_TMP_DIR, LocalStorageProvider } from './local.storage-provider';

const KEY =
  'products/0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e/7c9e6679-7425-40de-944b-e07fc1f90ae7/card.webp';
const OPTIONS = { contentType: 'image/webp', cacheControl: 'public' };

/** A stream that yields some bytes, then fails, as a dropped connection would. */
function failingStream(): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(Buffer.alloc(64 * 1024, 1));
      } else {
        this.destroy(new Error('connection reset'));
      }
    },
  });
}

describe(LocalStorageProvider.name, () => {
  let root: string;
  let storage: LocalStorageProvider;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'pis-local-'));
    storage = new LocalStorageProvider(root, 'https://cdn.example');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const tmpFiles = () => readdirSync(join(root, LOCAL_TMP_DIR));

  it('stores a buffer or a stream and reads it back byte-identical, with type and a strong ETag', async () => {
    const bytes = Buffer.from('RIFF....WEBPVP8 fake');
    expect(await storage.put(KEY, bytes, OPTIONS)).toEqual({ key: KEY, size: bytes.length });
    expect(readFileSync(join(root, KEY))).toEqual(bytes);
    await storage.put(KEY, Readable.from([bytes.subarray(0, 4), bytes.subarray(4)]), OPTIONS);
    const object = await storage.read(KEY);
    expect(object).toMatchObject({ size: bytes.length, contentType: 'image/webp' });
    expect(object!.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    const chunks: Buffer[] = [];
    for await (const chunk of object!.stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks)).toEqual(bytes);
    expect(await storage.exists(KEY)).toBe(true);
    expect(tmpFiles()).toEqual([]);
  });

  it('replaces an object whole, and keeps the old bytes when a write fails midway', async () => {
    await storage.put(KEY, Buffer.from('first'), OPTIONS);
    await storage.put(KEY, Buffer.from('second'), OPTIONS);
    expect(readFileSync(join(root, KEY), 'utf8')).toBe('second');
    await expect(storage.put(KEY, failingStream(), OPTIONS)).rejects.toThrow('connection reset');
    expect(readFileSync(join(root, KEY), 'utf8')).toBe('second');
    expect(tmpFiles()).toEqual([]);
  });

  it('leaves nothing when the very first write of a key fails', async () => {
    const key = KEY.replace('card', 'large');
    await expect(storage.put(key, failingStream(), OPTIONS)).rejects.toThrow();
    expect(await storage.exists(key)).toBe(false);
    expect(tmpFiles()).toEqual([]);
  });

  it('deletes, and treats a missing key as already deleted', async () => {
    await storage.put(KEY, Buffer.from('x'), OPTIONS);
    await storage.delete(KEY);
    expect(await storage.exists(KEY)).toBe(false);
    await expect(storage.delete(KEY)).resolves.toBeUndefined();
    // A file where a directory of the key should be: the key cannot exist.
    mkdirSync(join(root, 'products'), { recursive: true });
    writeFileSync(join(root, 'products', 'blocker'), 'x');
    await expect(storage.delete('products/blocker/a/b.webp')).resolves.toBeUndefined();
  });

  it('refuses keys that are malformed or leave the root, for every operation', async () => {
    for (const key of ['../outside.webp', 'products/../../x', '/etc/passwd', 'Products/X.webp']) {
      await expect(storage.put(key, Buffer.from('x'), OPTIONS)).rejects.toThrow(
        /invalid storage key/,
      );
      await expect(storage.delete(key)).rejects.toThrow(/invalid storage key/);
      await expect(storage.exists(key)).resolves.toBe(false);
      await expect(storage.read(key)).resolves.toBeUndefined();
    }
    // Refused before anything touched the disk.
    expect(readdirSync(root)).toEqual([]);
  });

  it('gives public URLs below /media', async () => {
    await expect(storage.url(KEY)).resolves.toBe(`https://cdn.example/media/${KEY}`);
  });
});
