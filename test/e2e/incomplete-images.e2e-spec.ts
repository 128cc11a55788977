import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Response } from 'light-my-request';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { Role, Scope } from '../../src/auth/roles';
import { decodeId } from '../../src/common/ids/short-id';
import {
  deliveryHeaders,
  STORAGE_PROVIDER,
  type StorageProvider,
} from '../../src/storage/storage-provider';
import { filesBelow } from '../support/accounts';
import { eventually } from '../support/eventually';
import { harmlessJpegOddities, jpegCutAndClosed } from '../support/fixtures';
import { call, login, uploadToNewProduct, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { transformSignature } from '../support/transform-signature';

/**
 * A JPEG cut mid-scan and closed with its end marker (FF D9) looks complete, and libjpeg decodes
 * it with only a warning, the missing rows grey: a product image with a grey lower part. Every way
 * an image comes in refuses it as 400 invalid_image (each compatible API in its own shape),
 * keeping no row, no file and no spool file; a stored original damaged so (taken by an earlier
 * version) is still transformed, as it was accepted. The JPEGs that libjpeg decodes whole, warning or
 * not (stray bytes, odd segments, unknown revisions), are still taken.
 */

const SIGNING_KEY = 'incomplete-images-signing-key-0123456789';
const DETAIL = /cut short or damaged, so part of the picture \(usually its lower part\) is missing/;

describe('Incomplete images: a JPEG cut short and closed with its end marker', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let server: http.Server;
  let origin: string;
  let cut: Buffer;
  let admin: Credential;
  let staffKey: string;
  let product: { id: string; gtin: string; external_id: string };
  let organizationId: string;
  let dataDir: string;

  beforeAll(async () => {
    cut = await jpegCutAndClosed();
    server = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'image/jpeg' }).end(cut);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    origin = `http://127.0.0.1:${port}`;
    t = await startTestApp({
      IMPORT_ALLOWED_PRIVATE_ORIGINS: origin,
      IMPORT_ALLOWED_PORTS: `80,443,${port}`,
      DELIVERY_SIGNING_KEYS: SIGNING_KEY,
    });
    app = t.app;
    dataDir = t.db.env.DATA_DIR;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const key = await call(app, 'POST', '/api/v1/api-keys', admin, {
      name: 'staff key',
      role: Role.Staff,
      scopes: [Scope.ProductsRead, Scope.ImagesRead, Scope.ImagesWrite],
    });
    expect(key.statusCode).toBe(201);
    staffKey = key.json<{ key: string }>().key;
    const created = await call(app, 'POST', '/api/v1/products', admin, {
      name: 'Cut product',
      gtin: '4006381333931',
      external_id: 'cut-1',
    });
    expect(created.statusCode).toBe(201);
    product = created.json();
    const me = await call(app, 'GET', '/api/v1/auth/me', { apiKey: staffKey });
    organizationId = me.json<{ organization: { id: string } }>().organization.id;
  });

  afterAll(async () => {
    await t?.close();
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  /** What a refusal must leave as it was: image rows, stored files, spooled uploads. */
  async function kept(): Promise<{ images: number; media: string[]; spool: string[] }> {
    const [{ n }] = await app
      .get(DataSource)
      .query<{ n: number }[]>('SELECT count(*)::int AS n FROM images');
    return {
      images: n,
      media: filesBelow(join(dataDir, 'media')).sort(),
      spool: filesBelow(join(dataDir, 'tmp', 'uploads')),
    };
  }

  function multipartTo(url: string, credential: Credential, fields: Record<string, string>) {
    const form = multipart(fields, [{ data: cut, contentType: 'image/jpeg', filename: 'cut.jpg' }]);
    return call(app, 'POST', url, credential, form.payload, { headers: form.headers });
  }

  function expectInvalidImage(res: Response) {
    expect({ status: res.statusCode, body: res.body.slice(0, 300) }).toMatchObject({ status: 400 });
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({
      code: 'invalid_image',
      detail: expect.stringMatching(DETAIL),
      errors: [{ field: 'image' }],
    });
  }

  it('is refused by an upload, baseline or progressive, wherever it was cut', async () => {
    const before = await kept();
    const url = `/api/v1/products/${product.id}/images`;
    for (const options of [
      { share: 0.6 },
      { share: 0.95 },
      { share: 0.3, progressive: true },
      { share: 0.8, progressive: true },
      // Between two whole scans: libjpeg warns of nothing, and the picture is blurred.
      { progressive: true, beforeScan: 5 },
      { progressive: true, beforeScan: 9, closed: false },
    ]) {
      const form = multipart({}, [
        { data: await jpegCutAndClosed(options), contentType: 'image/jpeg', filename: 'a.jpg' },
      ]);
      const res = await call(app, 'POST', url, admin, form.payload, { headers: form.headers });
      expectInvalidImage(res);
    }
    expect(await kept()).toEqual(before);
  });

  it('is refused as a stand-alone image', async () => {
    const before = await kept();
    expectInvalidImage(await multipartTo('/api/v1/images', admin, { purpose: 'product' }));
    expect(await kept()).toEqual(before);
  });

  it('is refused as a data URI and from a URL', async () => {
    const before = await kept();
    const url = `/api/v1/products/${product.id}/image`;
    const dataUri = `data:image/jpeg;base64,${cut.toString('base64')}`;
    expectInvalidImage(await call(app, 'PUT', url, admin, { image: dataUri }));
    expectInvalidImage(await call(app, 'PUT', url, admin, { image: `${origin}/cut.jpg` }));
    expect(await kept()).toEqual(before);
  });

  it('fails its row of a bulk import with invalid_image', async () => {
    const before = await kept();
    const res = await call(app, 'POST', '/api/v1/imports', admin, {
      rows: [{ product_id: product.id, url: `${origin}/cut.jpg` }],
    });
    expect(res.statusCode).toBe(202);
    const id = res.json<{ id: string }>().id;
    await eventually(
      async () =>
        (await call(app, 'GET', `/api/v1/imports/${id}`, admin)).json<{ state: string }>().state ===
        'completed',
      'the import to complete',
      60_000,
    );
    const rows = await call(app, 'GET', `/api/v1/imports/${id}/rows`, admin);
    expect(rows.json<{ items: unknown[] }>().items).toEqual([
      expect.objectContaining({
        status: 'failed',
        image_id: null,
        problem: expect.objectContaining({ code: 'invalid_image' }),
      }),
    ]);
    expect(await kept()).toEqual(before);
  });

  it('is refused by each compatible API, in its own shape', async () => {
    const before = await kept();
    const token = await multipartTo(
      `/api/products/${product.external_id}/images`,
      { token: staffKey },
      {},
    );
    expectInvalidImage(token);
    const closient = await multipartTo(
      `/dashboard/api/v1/trade-items/${organizationId}/${product.gtin}/images`,
      { apiKey: staffKey },
      {},
    );
    expectInvalidImage(closient);
    const backoffice = await multipartTo('/upload/image', { apiKey: staffKey }, {});
    expectInvalidImage(backoffice);
    const inventorum = await multipartTo('/api/images/', { bearer: staffKey }, { type: 'product' });
    expect(inventorum.statusCode).toBe(400);
    expect(inventorum.json()).toMatchObject({
      error: {
        fields: {
          image: [
            'Upload a valid image. The file you uploaded was either not an image or a corrupted image.',
          ],
        },
      },
    });
    expect(await kept()).toEqual(before);
  });

  it('is still transformed as a stored original, which an earlier version took', async () => {
    const whole = await jpegCutAndClosed({ share: 1 });
    const { id } = await uploadToNewProduct(app, admin, whole.subarray(0, -2), 'Damaged later');
    const [{ storage_key: key }] = await app
      .get(DataSource)
      .query<{ storage_key: string }[]>('SELECT storage_key FROM images WHERE id = $1', [
        decodeId(id),
      ]);
    await app.get<StorageProvider>(STORAGE_PROVIDER).put(key, cut, {
      contentType: 'image/jpeg',
      ...deliveryHeaders('image/jpeg'),
    });
    const options = 'w_200,f_webp';
    const path = `/transform/${transformSignature(SIGNING_KEY, options, id)}/${options}/${id}`;
    const res = await app.inject({ method: 'GET', url: path });
    // Refused as a new image, but its URLs were handed out: not broken by an upgrade.
    expect({ status: res.statusCode, type: res.headers['content-type'] }).toEqual({
      status: 200,
      type: 'image/webp',
    });
    expect(await sharp(res.rawPayload).metadata()).toMatchObject({ format: 'webp', width: 200 });
  });

  it('takes the JPEGs libjpeg decodes whole, whatever it warns of, and stores every row', async () => {
    const whole = (await jpegCutAndClosed({ share: 1 })).subarray(0, -2);
    const bottom = async (jpeg: Buffer) => {
      const { data, info } = await sharp(jpeg, { failOn: 'error' })
        .raw()
        .toBuffer({ resolveWithObject: true });
      return data.subarray((info.height - 8) * info.width * info.channels);
    };
    const expected = await bottom(whole);
    const url = `/api/v1/products/${product.id}/images`;
    for (const { name, jpeg } of await harmlessJpegOddities()) {
      const form = multipart({ title: name }, [
        { data: jpeg, contentType: 'image/jpeg', filename: 'odd.jpg' },
      ]);
      const res = await call(app, 'POST', url, admin, form.payload, { headers: form.headers });
      expect({ name, status: res.statusCode, body: res.body.slice(0, 200) }).toMatchObject({
        name,
        status: 201,
      });
      const stored = await app.inject({ method: 'GET', url: new URL(res.json().url).pathname });
      expect({ name, bottom: await bottom(stored.rawPayload) }).toEqual({ name, bottom: expected });
    }
  });
});
