import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
// The module object itself (a namespace import would be a copy), so that a spy reaches the provider.
import fsPromises from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { LOCAL_TMP_DIR, LocalStorageProvider } from './local.storage-provider';

const KEY =
  'products/0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e/7c9e6679-7425-40de-944b-e07fc1f90ae7/card.webp';
const OPTIONS = { contentType: 'image/webp', cacheControl: 'public' };

const PRODUCT = 'products/0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e';
const imageKey = (image: string, variant: string): string => `${PRODUCT}/${image}/${variant}.webp`;
const IMAGE_A = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const IMAGE_B = '16fd2706-8baf-433b-82eb-8c7fada847da';

/** Every folder below `dir` (relative to it), depth first, and every file. */
function tree(dir: string): { folders: string[]; files: string[] } {
  const folders: string[] = [];
  const files: string[] = [];
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) {
        folders.push(relative(dir, path));
        walk(path);
      } else files.push(relative(dir, path));
    }
  };
  walk(dir);
  return { folders: folders.sort(), files: files.sort() };
}

/** Folders below `dir` that hold nothing at all. */
function emptyFolders(dir: string): string[] {
  return tree(dir).folders.filter((f) => readdirSync(join(dir, f)).length === 0);
}

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
    expect(object!.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]{12}"$/);
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

  describe('removing the folders a delete leaves empty', () => {
    const bytes = Buffer.from('x');

    it('removes each folder once its last file is gone, up to but not including the root', async () => {
      await storage.put(imageKey(IMAGE_A, 'original'), bytes, OPTIONS);
      await storage.put(imageKey(IMAGE_A, 'thumb'), bytes, OPTIONS);
      await storage.put(imageKey(IMAGE_B, 'original'), bytes, OPTIONS);

      await storage.delete(imageKey(IMAGE_A, 'original'));
      expect(tree(root).files).toEqual(
        [imageKey(IMAGE_A, 'thumb'), imageKey(IMAGE_B, 'original')].sort(),
      );
      await storage.delete(imageKey(IMAGE_A, 'thumb'));
      // The image's folder went; the product's stays for its other image.
      expect(existsSync(join(root, PRODUCT, IMAGE_A))).toBe(false);
      expect(tree(root).files).toEqual([imageKey(IMAGE_B, 'original')]);
      await storage.delete(imageKey(IMAGE_B, 'original'));

      // Nothing but the root and the write area (`.tmp`, kept for the next write).
      expect(tree(root)).toEqual({ folders: [LOCAL_TMP_DIR], files: [] });
      expect(existsSync(root)).toBe(true);
    });

    it('also removes them when the file is already gone (a delete interrupted before)', async () => {
      mkdirSync(join(root, PRODUCT, IMAGE_A), { recursive: true });
      await storage.delete(imageKey(IMAGE_A, 'original'));
      expect(readdirSync(root)).toEqual([]);
    });

    it('keeps a folder that something else still holds', async () => {
      await storage.put(imageKey(IMAGE_A, 'original'), bytes, OPTIONS);
      writeFileSync(join(root, PRODUCT, 'not-ours.txt'), 'x');
      await storage.delete(imageKey(IMAGE_A, 'original'));
      expect(tree(root).files).toEqual([`${PRODUCT}/not-ours.txt`]);
    });

    it('does not fail a write whose new folder a concurrent delete removes before the rename', async () => {
      // The race made certain: the write has made its folder (empty), and before it renames its
      // file in, the delete of the folder's last other file removes the folder, as a delete in
      // another request or instance can.
      await storage.put(imageKey(IMAGE_A, 'original'), bytes, OPTIONS);
      const realRename = fsPromises.rename;
      let raced = false;
      const rename = jest.spyOn(fsPromises, 'rename').mockImplementation(async (from, to) => {
        if (!raced) {
          raced = true;
          await storage.delete(imageKey(IMAGE_A, 'original'));
          expect(existsSync(join(root, PRODUCT))).toBe(false);
        }
        return realRename(from, to);
      });
      try {
        await expect(
          storage.put(imageKey(IMAGE_A, 'thumb'), Buffer.from('thumb'), OPTIONS),
        ).resolves.toMatchObject({ size: 5 });
      } finally {
        rename.mockRestore();
      }
      expect(raced).toBe(true);
      expect(readFileSync(join(root, imageKey(IMAGE_A, 'thumb')), 'utf8')).toBe('thumb');
      expect(tmpFiles()).toEqual([]);
    });

    it('keeps every write and leaves no empty folder under concurrent writes and deletes', async () => {
      const images = Array.from(
        { length: 8 },
        (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      );
      for (let round = 0; round < 100; round++) {
        // Half the images are written while the other half, written before, are deleted: the
        // deletes empty and remove the product's folder as the writes recreate it.
        const [kept, removed] =
          round % 2 ? [images.slice(0, 4), images.slice(4)] : [images.slice(4), images.slice(0, 4)];
        await Promise.all(removed.map((i) => storage.put(imageKey(i, 'original'), bytes, OPTIONS)));
        const results = await Promise.allSettled([
          ...kept.map((i) => storage.put(imageKey(i, 'original'), bytes, OPTIONS)),
          ...removed.map((i) => storage.delete(imageKey(i, 'original'))),
        ]);
        expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
        expect(tree(root).files).toEqual(kept.map((i) => imageKey(i, 'original')).sort());
        await Promise.all(kept.map((i) => storage.delete(imageKey(i, 'original'))));
        expect(emptyFolders(root)).toEqual([LOCAL_TMP_DIR]);
        expect(tree(root).files).toEqual([]);
      }
    });
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

  it('reads no file that a symlink leads to outside the root, but follows one that stays inside', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'pis-outside-'));
    try {
      writeFileSync(join(outside, 'secret.webp'), 'not for /media');
      const folder = join(root, PRODUCT, IMAGE_A);
      mkdirSync(folder, { recursive: true });
      // The file itself a link out, and a folder of the key a link out.
      symlinkSync(join(outside, 'secret.webp'), join(root, KEY));
      symlinkSync(outside, join(root, PRODUCT, IMAGE_B));
      await expect(storage.read(KEY)).resolves.toBeUndefined();
      await expect(storage.read(imageKey(IMAGE_B, 'secret'))).resolves.toBeUndefined();
      // A link to a file of the root is that file (as /media serves it).
      await storage.put(imageKey(IMAGE_A, 'large'), Buffer.from('inside'), OPTIONS);
      symlinkSync(join(folder, 'large.webp'), join(folder, 'thumb.webp'));
      const object = await storage.read(imageKey(IMAGE_A, 'thumb'));
      expect(object?.size).toBe(6);
      object?.stream.destroy();
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  describe('listing', () => {
    const listed = async (prefix: string) => {
      const found: { key: string; lastModified: Date }[] = [];
      for await (const object of storage.list(prefix)) found.push(object);
      return found.sort((a, b) => a.key.localeCompare(b.key));
    };

    it('lists the files whose keys start with the prefix, with their modification times', async () => {
      const old = new Date('2024-01-02T03:04:05Z');
      await storage.put(imageKey(IMAGE_A, 'card'), Buffer.from('a'), OPTIONS);
      await storage.put(imageKey(IMAGE_B, 'thumb'), Buffer.from('b'), OPTIONS);
      await storage.put(`uploads/${IMAGE_A}/original.jpg`, Buffer.from('c'), OPTIONS);
      await storage.put('products/blue-shoe.jpg', Buffer.from('d'), OPTIONS);
      await fsPromises.utimes(join(root, imageKey(IMAGE_B, 'thumb')), old, old);
      // The write area, and a write in progress in it, are never listed.
      writeFileSync(join(root, LOCAL_TMP_DIR, 'x.part'), 'half');

      const products = await listed('products/');
      expect(products.map((o) => o.key)).toEqual(
        [imageKey(IMAGE_B, 'thumb'), imageKey(IMAGE_A, 'card'), 'products/blue-shoe.jpg'].sort(),
      );
      expect(products.find((o) => o.key === imageKey(IMAGE_B, 'thumb'))?.lastModified).toEqual(old);
      expect((await listed('uploads/')).map((o) => o.key)).toEqual([
        `uploads/${IMAGE_A}/original.jpg`,
      ]);
      // A prefix that ends inside a name, or names a single folder.
      expect((await listed('products/blue')).map((o) => o.key)).toEqual(['products/blue-shoe.jpg']);
      expect((await listed(`${PRODUCT}/${IMAGE_A}/`)).map((o) => o.key)).toEqual([
        imageKey(IMAGE_A, 'card'),
      ]);
      expect((await listed('')).map((o) => o.key)).toHaveLength(4);
    });

    it('lists nothing under a folder that does not exist', async () => {
      expect(await listed('uploads/')).toEqual([]);
      expect(await listed('products/nothing/')).toEqual([]);
    });

    it('passes over files deleted while it lists', async () => {
      for (const image of [IMAGE_A, IMAGE_B]) {
        await storage.put(imageKey(image, 'card'), Buffer.from('x'), OPTIONS);
        await storage.put(imageKey(image, 'thumb'), Buffer.from('x'), OPTIONS);
      }
      const seen: string[] = [];
      for await (const object of storage.list('products/')) {
        seen.push(object.key);
        // Deleting every file (and so their folders) while the listing is under way.
        for (const image of [IMAGE_A, IMAGE_B]) {
          await storage.delete(imageKey(image, 'card'));
          await storage.delete(imageKey(image, 'thumb'));
        }
      }
      expect(seen.length).toBeGreaterThanOrEqual(1);
      expect(seen.length).toBeLessThanOrEqual(4);
      expect(tree(root).files).toEqual([]);
    });
  });

  it('removes the write files a crash left, older than a write can take, when checked', async () => {
    await storage.check();
    const dir = join(root, LOCAL_TMP_DIR);
    // Two hours: past the hour a write may be left alone (STALE_WRITE_MS).
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    for (const name of ['abandoned.part', 'not-a-write.txt']) {
      writeFileSync(join(dir, name), 'x');
      utimesSync(join(dir, name), old, old);
    }
    writeFileSync(join(dir, 'in-flight.part'), 'x');
    // Checked again within the hour: not yet looked at.
    await storage.check();
    expect(tmpFiles().sort()).toEqual(['abandoned.part', 'in-flight.part', 'not-a-write.txt']);
    // A start (a new provider): only the old write file goes.
    await new LocalStorageProvider(root, 'https://cdn.example').check();
    expect(tmpFiles().sort()).toEqual(['in-flight.part', 'not-a-write.txt']);
  });

  it('does not start when no file can be made in its write area, naming the folder', async () => {
    const dir = join(root, LOCAL_TMP_DIR);
    const realOpen = fsPromises.open;
    // The write area mounted read-only (or another owner's, or immutable), the root writable.
    const open = jest.spyOn(fsPromises, 'open').mockImplementation((path, ...rest) => {
      if (String(path).startsWith(`${dir}/`)) {
        return Promise.reject(Object.assign(new Error('read-only'), { code: 'EROFS' }));
      }
      return realOpen(path, ...rest);
    });
    try {
      await expect(storage.check()).rejects.toThrow(
        `Local storage failed writing in ${dir}: EROFS`,
      );
    } finally {
      open.mockRestore();
    }
    // Writable again: ready, and the probe leaves nothing behind.
    await expect(storage.check()).resolves.toBeUndefined();
    expect(tmpFiles()).toEqual([]);
  });

  it('gives public URLs below /media', async () => {
    await expect(storage.url(KEY)).resolves.toBe(`https://cdn.example/media/${KEY}`);
  });
});
