import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { LOCAL_TMP_DIR } from '../../src/storage/providers/local.storage-provider';
import { decodeId } from '../../src/common/ids/short-id';
import { filesBelow } from '../support/accounts';
import { eventually } from '../support/eventually';
import { solidJpeg } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/** The UUID behind an id the API showed. */
function uuid(id: string): string {
  const decoded = decodeId(id);
  if (!decoded) throw new Error(`not an id: ${id}`);
  return decoded;
}

/** Folders below `dir` that hold nothing (the write area `.tmp` aside), relative to it. */
function emptyFoldersBelow(dir: string): string[] {
  const found: string[] = [];
  const walk = (at: string): void => {
    const entries = readdirSync(at, { withFileTypes: true });
    if (entries.length === 0 && at !== dir) found.push(relative(dir, at));
    for (const e of entries) if (e.isDirectory()) walk(join(at, e.name));
  };
  if (existsSync(dir)) walk(dir);
  return found.filter((f) => f !== LOCAL_TMP_DIR);
}

describe('Local storage: deleting images leaves no empty folders', () => {
  let t: TestApp;
  let admin: Credential;
  let media: string;
  let jpeg: Buffer;

  beforeAll(async () => {
    t = await startTestApp();
    admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    media = join(t.db.env.DATA_DIR, 'media');
    jpeg = await solidJpeg(64, 48);
  });
  afterAll(() => t.close());

  async function product(name: string): Promise<string> {
    const res = await call(t.app, 'POST', '/api/v1/products', admin, { name });
    expect(res.statusCode).toBe(201);
    return res.json<{ id: string }>().id;
  }

  function upload(productId: string) {
    const body = multipart({}, [{ data: jpeg, contentType: 'image/jpeg', filename: 'a.jpg' }]);
    return call(t.app, 'POST', `/api/v1/products/${productId}/images`, admin, body.payload, {
      headers: body.headers,
    });
  }

  async function uploaded(productId: string): Promise<string> {
    const res = await upload(productId);
    expect(res.statusCode).toBe(201);
    return res.json<{ id: string }>().id;
  }

  const remove = (productId: string, imageId: string) =>
    call(t.app, 'DELETE', `/api/v1/products/${productId}/images/${imageId}`, admin);

  it("removes the image's folder, then the product's once it holds no image", async () => {
    const p = await product('Folders');
    const first = await uploaded(p);
    const second = await uploaded(p);
    const productDir = join(media, 'products', uuid(p));
    expect(readdirSync(productDir).sort()).toEqual([uuid(first), uuid(second)].sort());

    // Files (and their folders) go right after each DELETE, by a file-deletion job.
    expect((await remove(p, first)).statusCode).toBe(204);
    await eventually(() => readdirSync(productDir).length === 1, 'the first folder to go');
    expect(readdirSync(productDir)).toEqual([uuid(second)]);
    expect((await remove(p, second)).statusCode).toBe(204);

    await eventually(() => !existsSync(productDir), "the product's folder to go");
    await eventually(() => emptyFoldersBelow(media).length === 0, 'no empty folder left');
    expect(filesBelow(media).filter((f) => !f.includes(`/${LOCAL_TMP_DIR}/`))).toEqual([]);
  });

  it("removes a deleted product's folders", async () => {
    const p = await product('Gone');
    await uploaded(p);
    await uploaded(p);
    expect((await call(t.app, 'DELETE', `/api/v1/products/${p}`, admin)).statusCode).toBe(204);
    await eventually(() => !existsSync(join(media, 'products', uuid(p))), "the product's folder");
    await eventually(() => emptyFoldersBelow(media).length === 0, 'no empty folder left');
  });

  it('keeps an upload into the same product that runs while its last image is deleted', async () => {
    const p = await product('Racing');
    let current = await uploaded(p);
    for (let round = 0; round < 8; round++) {
      // The delete empties the product's folder and removes it while the upload writes into it.
      const [deleted, added] = await Promise.all([remove(p, current), upload(p)]);
      expect(deleted.statusCode).toBe(204);
      expect(added.statusCode).toBe(201);
      current = added.json<{ id: string }>().id;
      const image = await call(t.app, 'GET', `/api/v1/products/${p}/images/${current}`, admin);
      expect(image.statusCode).toBe(200);
      // Every file the listed image names is on disk.
      const key = new URL(image.json<{ url: string }>().url).pathname.slice('/media/'.length);
      expect(existsSync(join(media, key))).toBe(true);
    }
    expect((await remove(p, current)).statusCode).toBe(204);
    await eventually(() => !existsSync(join(media, 'products', uuid(p))), "the product's folder");
    await eventually(() => emptyFoldersBelow(media).length === 0, 'no empty folder left');
  });
});
