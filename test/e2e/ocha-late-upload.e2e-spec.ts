import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { decodeId } from '../../src/common/ids/short-id';
import { noisyPng } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

jest.setTimeout(60_000);

/** Storage calls are given up after this; the fake completes the delayed one after LATE_MS. */
const STORAGE_TIMEOUT_MS = 1_000;
const LATE_MS = 2_500;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const dataUri = (type: string, bytes: Buffer) => `data:${type};base64,${bytes.toString('base64')}`;

/**
 * The Ocha API's `PUT …/image` on Cloudinary, whose upload is given up at STORAGE_TIMEOUT_MS (502
 * storage_unavailable) but which Cloudinary completes later: it must not change the image the
 * product's row names (its bytes, size and hash), which stays at the product's slug public id.
 */
describe('The Ocha API on Cloudinary: an upload given up that lands later', () => {
  let backend: StorageBackend;
  let t: TestApp;
  let admin: Credential;
  let png: Buffer;
  let jpeg: Buffer;

  beforeAll(async () => {
    png = await noisyPng(300, 200);
    jpeg = await sharp(await noisyPng(320, 240))
      .jpeg({ quality: 70 })
      .toBuffer();
    backend = await startStorageBackend('cloudinary');
    t = await startTestApp({ ...backend.env, STORAGE_TIMEOUT_MS: String(STORAGE_TIMEOUT_MS) });
    admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });
  afterAll(async () => {
    await t?.close();
    await backend?.close();
  });

  const product = async (name: string) => {
    const res = await call(t.app, 'POST', '/api/v1/products', admin, { name });
    expect(res.statusCode).toBe(201);
    return res.json<{ id: string; slug: string }>();
  };
  const put = (productId: string, image: string) =>
    call(t.app, 'PUT', `/api/v1/products/${productId}/image`, admin, { image });
  const rows = (productId: string) =>
    t.app
      .get(DataSource)
      .query<{ id: string; storage_key: string; sha256: string; size: number; version: string }[]>(
        `SELECT id, storage_key, sha256, size, storage_version::text AS version
           FROM images WHERE product_id = $1`,
        [decodeId(productId)],
      );

  it('keeps the row and the bytes at the slug public id together', async () => {
    const fake = backend.cloudinary!;
    const item = await product('Yellow Coat');
    const first = await put(item.id, dataUri('image/png', png));
    expect(first.statusCode).toBe(200);
    const [row] = await rows(item.id);
    // The documented form: folder products/, public id = the product's slug.
    expect(row.storage_key).toBe('products/yellow-coat.png');
    expect(first.json().primary_image.url).toMatch(/\/v\d+\/products\/yellow-coat\.png$/);
    const before = fake.assets.get('products/yellow-coat')!;
    expect(sha256(before.bytes)).toBe(row.sha256);

    // The next upload reaches Cloudinary whole, but is answered after the service gave up.
    fake.delayNext(1, LATE_MS);
    const started = Date.now();
    const failed = await put(item.id, dataUri('image/jpeg', jpeg));
    expect(failed.statusCode).toBe(502);
    expect(failed.json().code).toBe('storage_unavailable');
    expect(Date.now() - started).toBeLessThan(LATE_MS);
    // Cloudinary completes it.
    await sleep(LATE_MS + 500);

    expect(await rows(item.id)).toEqual([row]);
    const now = fake.assets.get('products/yellow-coat')!;
    expect({
      sha256: sha256(now.bytes),
      size: now.bytes.length,
      version: String(now.version),
    }).toEqual({ sha256: row.sha256, size: row.size, version: row.version });
    const shown = await call(t.app, 'GET', `/api/v1/products/${item.id}`, admin);
    const delivered = Buffer.from(
      await (await fetch(shown.json().primary_image.url)).arrayBuffer(),
    );
    expect(sha256(delivered)).toBe(row.sha256);

    // And the product's next import works as ever, at the same public id.
    const again = await put(item.id, dataUri('image/jpeg', jpeg));
    expect(again.statusCode).toBe(200);
    const [next] = await rows(item.id);
    expect(next.storage_key).toBe('products/yellow-coat.jpg');
    expect(sha256(fake.assets.get('products/yellow-coat')!.bytes)).toBe(next.sha256);
    expect(Number(next.version)).toBeGreaterThan(Number(row.version));
  });

  it('settles a move given up at its deadline: the staged asset destroyed, the slug key untouched', async () => {
    const fake = backend.cloudinary!;
    const item = await product('Olive Vest');
    expect((await put(item.id, dataUri('image/png', png))).statusCode).toBe(200);
    const [row] = await rows(item.id);
    const before = { ...fake.assets.get('products/olive-vest')! };

    // The upload goes through; the move onto the slug public id is answered too late.
    fake.delayNext(1, LATE_MS, 'image/rename');
    const renames = fake.renames.length;
    const failed = await put(item.id, dataUri('image/jpeg', jpeg));
    expect(failed.statusCode).toBe(502);
    expect(failed.json().code).toBe('storage_unavailable');
    await sleep(LATE_MS + 500);

    // The rename reached Cloudinary after its source had been destroyed: it moved nothing.
    expect(fake.renames.slice(renames)).toHaveLength(1);
    expect(fake.rejected.some((r) => r.reason.startsWith('Resource not found'))).toBe(true);
    expect(await rows(item.id)).toEqual([row]);
    const now = fake.assets.get('products/olive-vest')!;
    expect(now.version).toBe(before.version);
    expect(sha256(now.bytes)).toBe(row.sha256);
    // Nothing else of the failed import is left on Cloudinary.
    const uuid = decodeId(item.id)!;
    expect([...fake.assets.keys()].filter((id) => id.includes(uuid))).toEqual([]);
  });
});
