import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { Readable } from 'node:stream';
import sharp from 'sharp';
import { validateEnv } from '../../src/config/env.validation';
import { IMAGE_STORAGE, type ImageStorage } from '../../src/storage/image-storage';
import { deadlineStorage } from '../../src/storage/providers/deadline.storage-provider';
import { createStorageProvider } from '../../src/storage/storage.module';
import {
  deliveryHeaders,
  STORAGE_PROVIDER,
  StorageError,
  type StorageProvider,
} from '../../src/storage/storage-provider';
import { noisyPng, safeSvg } from '../support/fixtures';
import {
  closedPort,
  CLOUDINARY_ACCOUNT,
  DRIVERS,
  fetchDelivered,
  PUBLIC_BASE,
  startStorageBackend,
  type Driver,
  type StorageBackend,
} from '../support/storage-backends';
import { startTestApp, type TestApp } from '../support/test-app';

/**
 * One contract, three providers, each against a real backend on loopback: a directory served by
 * the application's /media route, s3rver (a real S3 protocol server, signatures checked), and a
 * local fake of Cloudinary's API (no internet here) that verifies every request's signature.
 */
const P = '0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e';
let serial = 0;
const newKey = (extension = 'png') =>
  `products/${P}/00000000-0000-4000-8000-${String(++serial).padStart(12, '0')}/original.${extension}`;

function chunked(buffer: Buffer, size = 64 * 1024): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < buffer.length; i += size) chunks.push(buffer.subarray(i, i + size));
  return Readable.from(chunks);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.each(DRIVERS)('StorageProvider conformance: %s', (driver: Driver) => {
  let backend: StorageBackend;
  let t: TestApp;
  let storage: StorageProvider;
  let images: ImageStorage;
  let png: Buffer;
  let otherPng: Buffer;

  beforeAll(async () => {
    backend = await startStorageBackend(driver);
    t = await startTestApp({ ...backend.env, PUBLIC_BASE_URL: PUBLIC_BASE });
    storage = t.app.get<StorageProvider>(STORAGE_PROVIDER);
    images = t.app.get<ImageStorage>(IMAGE_STORAGE);
    png = await sharp({
      create: { width: 40, height: 30, channels: 3, background: '#3366cc' },
    })
      .png()
      .toBuffer();
    otherPng = await sharp({ create: { width: 20, height: 10, channels: 3, background: '#c00' } })
      .png()
      .toBuffer();
  });

  afterAll(async () => {
    await t?.close();
    await backend?.close();
  });

  const fetchUrl = (url: string) => fetchDelivered(t.app, url);

  it('stores a stream and serves it back byte-identical, with its content type', async () => {
    const key = newKey();
    const stored = await storage.put(key, chunked(png, 100), {
      contentType: 'image/png',
      ...deliveryHeaders('image/png'),
    });

    expect(stored).toMatchObject({ key, size: png.length });
    await expect(storage.exists(key)).resolves.toBe(true);
    const res = await fetchUrl(await storage.url(key));
    expect(res.status).toBe(200);
    expect(sha(res.body)).toBe(sha(png));
    expect(res.headers['content-type']).toBe('image/png');
    if (driver === 'cloudinary') {
      // Cloudinary measures what it received; the service records its figures.
      expect(stored).toMatchObject({ width: 40, height: 30, format: 'png' });
    }
  });

  it('delivers with a year of immutable caching, and SVG only as a download', async () => {
    const key = newKey();
    await storage.put(key, png, { contentType: 'image/png', ...deliveryHeaders('image/png') });
    const svgKey = newKey('svg');
    await storage.put(svgKey, safeSvg(), {
      contentType: 'image/svg+xml',
      ...deliveryHeaders('image/svg+xml'),
    });

    const svgUrl = await storage.url(svgKey);
    if (driver === 'cloudinary') {
      // Cloudinary's CDN sets caching itself; the attachment flag is part of the URL.
      expect(svgUrl).toContain('/image/upload/fl_attachment/');
      return;
    }
    const res = await fetchUrl(await storage.url(key));
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const svg = await fetchUrl(svgUrl);
    expect(svg.status).toBe(200);
    expect(svg.headers['content-type']).toBe('image/svg+xml');
    expect(svg.headers['content-disposition']).toBe('attachment');
  });

  it('deletes, and deleting a missing key is not an error', async () => {
    const key = newKey();
    await storage.put(key, png, { contentType: 'image/png', ...deliveryHeaders('image/png') });
    const url = await storage.url(key);

    await storage.delete(key);

    await expect(storage.exists(key)).resolves.toBe(false);
    expect((await fetchUrl(url)).status).toBe(404);
    expect(backend.stored().some((k) => k.includes(key.split('/')[2]))).toBe(false);
    await expect(storage.delete(key)).resolves.toBeUndefined();
    await expect(storage.delete(newKey())).resolves.toBeUndefined();
  });

  it('lists the objects under a prefix, page by page, with when each was last written', async () => {
    const product = '5d9a1c3e-2f4b-4c6d-8e0f-a1b2c3d4e5f6';
    const upload = '9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a';
    const keys = [1, 2, 3].map(
      (n) => `products/${product}/00000000-0000-4000-8000-00000000000${n}/original.png`,
    );
    const uploaded = `uploads/${upload}/original.png`;
    for (const key of [...keys, uploaded]) {
      await storage.put(key, png, { contentType: 'image/png', ...deliveryHeaders('image/png') });
    }
    const old = new Date('2024-05-06T07:08:09Z');
    backend.backdate(keys[1], old);

    const listed = async (prefix: string, pageSize?: number) => {
      const found: { key: string; lastModified: Date }[] = [];
      for await (const object of storage.list(prefix, { pageSize })) found.push(object);
      return found.sort((a, b) => a.key.localeCompare(b.key));
    };
    // Two objects a page: the third comes from a second request.
    const products = await listed(`products/${product}/`, 2);
    expect(products.map((o) => o.key)).toEqual(keys);
    expect(products[1].lastModified).toEqual(old);
    for (const o of [products[0], products[2]]) {
      expect(Math.abs(o.lastModified.getTime() - Date.now())).toBeLessThan(10 * 60_000);
    }
    expect((await listed(`uploads/${upload}/`)).map((o) => o.key)).toEqual([uploaded]);
    expect((await listed('uploads/')).map((o) => o.key)).toContain(uploaded);
    expect((await listed('uploads/')).map((o) => o.key)).not.toContain(keys[0]);
    expect((await listed('products/')).map((o) => o.key)).toEqual(expect.arrayContaining(keys));
    expect((await listed('products/')).map((o) => o.key)).not.toContain(uploaded);
    expect(await listed(`products/${product}/none/`)).toEqual([]);
  });

  it('hands out URLs of the documented shape', async () => {
    const key = newKey();
    const url = new URL(await storage.url(key));
    switch (driver) {
      case 'local':
        expect(url.href).toBe(`${PUBLIC_BASE}/media/${key}`);
        expect(storage.reissueUrl).toBeUndefined();
        break;
      case 's3':
        // A private bucket: presigned GET, stable within a window so caches hit.
        expect(url.pathname).toBe(`/product-images/${key}`);
        expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
        expect(url.searchParams.get('X-Amz-Expires')).toBe('3600');
        await expect(storage.url(key)).resolves.toBe(url.href);
        // Signed again for now (the same window: the same URL); nothing else is one of its URLs.
        await expect(storage.reissueUrl!(url.href)).resolves.toBe(url.href);
        for (const foreign of [
          url.href.split('?')[0],
          url.href.replace('/product-images/', '/other-bucket/'),
          url.href.replace(url.origin, 'http://elsewhere.test'),
          url.href.replace(key, `${key.split('/')[0]}/..%2F..%2Fsecret`),
          url.href.replace(key, '%E0%A4%A'),
        ]) {
          await expect(storage.reissueUrl!(foreign)).resolves.toBeUndefined();
        }
        break;
      case 'cloudinary': {
        // Folder `products/` + the key without its own `products/`: the key's path, no extension.
        const id = key.replace(/\.png$/, '');
        expect(url.pathname).toBe(`/${CLOUDINARY_ACCOUNT.cloudName}/image/upload/v1/${id}.png`);
        const card = await images.url({
          key,
          transform: { width: 500, height: 500, fit: 'attention' },
        });
        expect(card).toContain(`/image/upload/c_fill,g_auto,h_500,w_500/f_auto/q_auto/v1/${id}`);
        // With the version its upload was given, the URL names it (cache busting on overwrite).
        const versioned = await images.url({ key, version: 1764662400 });
        expect(new URL(versioned).pathname).toBe(
          `/${CLOUDINARY_ACCOUNT.cloudName}/image/upload/v1764662400/${id}.png`,
        );
        const thumb = await images.url({
          key,
          transform: { width: 150, height: 150, fit: 'cover' },
        });
        expect(thumb).toContain('/c_fill,g_center,h_150,w_150/f_auto/q_auto/');
        const large = await images.url({
          key,
          transform: { width: 1200, height: 1200, fit: 'inside' },
        });
        expect(large).toContain('/c_limit,h_1200,w_1200/f_auto/q_auto/');
        expect(url.search).toBe('');
        expect(storage.reissueUrl).toBeUndefined();
        break;
      }
    }
  });

  it('overwrites a key with new bytes', async () => {
    const key = newKey();
    await storage.put(key, png, { contentType: 'image/png', ...deliveryHeaders('image/png') });
    await storage.put(key, chunked(otherPng, 50), {
      contentType: 'image/png',
      ...deliveryHeaders('image/png'),
    });

    const res = await fetchUrl(await storage.url(key));
    expect(sha(res.body)).toBe(sha(otherPng));
    if (driver === 'cloudinary') {
      const uploads = backend.cloudinary!.uploads.filter((u) => key.includes(u.fields.public_id));
      expect(uploads.map((u) => u.fields.overwrite)).toEqual(['1', '1']);
      expect(uploads[0].fields).toMatchObject({ folder: 'products/', invalidate: '1' });
    }
  });

  it('streams a large (12 MB) object without corrupting it', async () => {
    const big = await noisyPng(2048, 2048);
    expect(big.length).toBeGreaterThanOrEqual(12 * 1024 * 1024);
    const key = newKey();

    const stored = await storage.put(key, chunked(big), {
      contentType: 'image/png',
      ...deliveryHeaders('image/png'),
    });

    expect(stored.size).toBe(big.length);
    const res = await fetchUrl(await storage.url(key));
    expect(res.body.length).toBe(big.length);
    expect(sha(res.body)).toBe(sha(big));
    if (driver === 's3') {
      // More than one part: it went up as a multipart upload, never as one buffered body.
      const parts = backend.faults!.requests.filter(
        (r) => r.method === 'PUT' && r.path.includes('partNumber='),
      );
      expect(parts.length).toBeGreaterThanOrEqual(2);
    }
  });

  it('stops a write at its signal: the body is no longer read, the put fails, nothing is kept', async () => {
    const key = newKey();
    const before = backend.stored();
    let stalled!: () => void;
    const reading = new Promise<void>((resolve) => (stalled = resolve));
    let sent = false;
    // Half the image, then nothing: a client that stopped sending mid-upload.
    const body = new Readable({
      read() {
        if (sent) return stalled();
        sent = true;
        this.push(png.subarray(0, png.length >> 1));
      },
    });
    const abort = new AbortController();
    const put = storage.put(key, body, {
      contentType: 'image/png',
      ...deliveryHeaders('image/png'),
      signal: abort.signal,
    });
    const outcome = put.then(
      () => 'stored',
      () => 'failed',
    );
    await reading;
    abort.abort(new Error('past the deadline'));

    // Cloudinary's upload went on reading the body until the SDK's own timeout, and would have
    // sent the rest had it come.
    expect(await outcome).toBe('failed');
    expect(body.destroyed).toBe(true);
    expect(backend.stored()).toEqual(before);
  });

  describe('failures', () => {
    it('rejects with a StorageError when the storage is unreachable, leaving nothing', async () => {
      const port = await closedPort();
      // Local: a root below a regular file can never be created.
      const fileDir = mkdtempSync(join(tmpdir(), 'pis-file-'));
      const file = join(fileDir, 'file');
      writeFileSync(file, '');
      const env = validateEnv({
        ...backend.env,
        STORAGE_TIMEOUT_MS: '2000',
        // A user and password in the endpoint (a proxy's): never in a message.
        S3_ENDPOINT: `http://minio:endpoint-secret-123@127.0.0.1:${port}`,
        CLOUDINARY_URL: backend.env.CLOUDINARY_URL?.replace(
          /127\.0\.0\.1:\d+/g,
          `127.0.0.1:${port}`,
        ),
      });
      // Set past validation, which refuses such a root at start-up: here the provider's own
      // failure is what is tested, as of a folder that became unusable while running.
      env.STORAGE_LOCAL_DIR = join(file, 'media');
      const broken = await createStorageProvider(env);
      const before = backend.stored();
      try {
        const key = newKey();
        const put = broken.put(key, png, {
          contentType: 'image/png',
          ...deliveryHeaders('image/png'),
        });
        await expect(put).rejects.toBeInstanceOf(StorageError);
        await expect(broken.check()).rejects.toBeInstanceOf(StorageError);
        // The start-up message says why (it ended in a bare "Error" on S3), and where.
        if (driver === 's3') {
          const failed = await broken.check().catch((error: Error) => error.message);
          expect(failed).toMatch(/ECONNREFUSED/);
          expect(failed).toContain(`http://127.0.0.1:${port}`);
          expect(failed).not.toContain('endpoint-secret-123');
        }
        expect(backend.stored()).toEqual(before);
      } finally {
        broken.close?.();
        rmSync(fileDir, { recursive: true, force: true });
      }
    });

    if (driver !== 'local') {
      it('refuses bad credentials at the readiness check, naming them', async () => {
        // s3rver checks the access key id but not SigV4 signatures: a wrong key id it is.
        const env = validateEnv({
          ...backend.env,
          S3_ACCESS_KEY_ID: 'NOT-OUR-KEY',
          CLOUDINARY_URL: backend.cloudinary?.cloudinaryUrl({ apiSecret: 'not-the-secret' }),
        });
        const broken = await createStorageProvider(env);
        try {
          const checked = await broken.check().catch((error: unknown) => error);
          expect(checked).toBeInstanceOf(StorageError);
          expect(String(checked)).toMatch(/refused our credentials/);
          const put = await broken
            .put(newKey(), png, { contentType: 'image/png', ...deliveryHeaders('image/png') })
            .then(
              () => undefined,
              (error: unknown) => error,
            );
          expect(put).toBeInstanceOf(StorageError);
          // Nothing of what the SDK's error carried besides its message: an Admin API error
          // holds the request's `auth`, key and secret (for a log line that someday writes it).
          for (const error of [checked, put]) {
            expect(inspect(error, { depth: 20 })).not.toContain('not-the-secret');
          }
        } finally {
          broken.close?.();
        }
      });

      it('rejects when the storage answers 5xx, and times out rather than waiting forever', async () => {
        const before = backend.stored();
        const put = () =>
          storage.put(newKey(), png, { contentType: 'image/png', ...deliveryHeaders('image/png') });
        if (driver === 's3') backend.faults!.failAfter(['PUT'], 0);
        else backend.cloudinary!.failNext(1, 500);
        await expect(put()).rejects.toThrow(StorageError);
        backend.faults?.heal();

        const slow = await createStorageProvider(
          validateEnv({ ...backend.env, STORAGE_TIMEOUT_MS: '1000' }),
        );
        try {
          if (driver === 's3') backend.faults!.hang(true);
          else backend.cloudinary!.hang(true);
          await expect(
            slow.put(newKey(), png, { contentType: 'image/png', ...deliveryHeaders('image/png') }),
          ).rejects.toThrow(StorageError);
        } finally {
          backend.faults?.heal();
          backend.cloudinary?.hang(false);
          slow.close?.();
        }
        expect(backend.stored()).toEqual(before);
      });

      if (driver === 's3') {
        it('sends nothing more once a write is past its deadline: no object lands after the clean-up', async () => {
          // The SDK retried a timed-out PutObject (three attempts) after the deadline had told the
          // caller the write failed, and after its clean-up: the retry left an object no row names.
          const provider = await createStorageProvider(
            validateEnv({ ...backend.env, STORAGE_TIMEOUT_MS: '1000' }),
          );
          const bounded = deadlineStorage(provider, 1000);
          const key = newKey();
          const path = (r: { path: string }) => r.path.split('?')[0].endsWith(key);
          try {
            backend.faults!.hang(true);
            await expect(
              bounded.put(key, png, { contentType: 'image/png', ...deliveryHeaders('image/png') }),
            ).rejects.toThrow(StorageError);
          } finally {
            backend.faults!.heal();
          }
          // Long enough for the SDK's two more attempts (a second each, with back-off).
          await new Promise((resolve) => setTimeout(resolve, 4000));
          expect(backend.faults!.requests.filter((r) => r.method === 'PUT' && path(r))).toEqual([]);
          expect(await provider.exists(key)).toBe(false);
          provider.close?.();
        });
      }
    }
  });
});
