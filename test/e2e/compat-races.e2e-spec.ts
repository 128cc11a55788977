import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { Role } from '../../src/auth/roles';
import { decodeId } from '../../src/common/ids/short-id';
import { ImagesService } from '../../src/images/images.service';
import { solidJpeg } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * The races below need another writer to act while an upload is under way (between the adapter's
 * lookup and the upload's commit, or just after the commit). The `jest.spyOn` calls on
 * ImagesService only hold the request at that point to let the other writer act through the real
 * API, then call the real method: they replace nothing.
 */
describe('Compatible APIs: work that races a change of the product or the image', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let ds: DataSource;
  let admin: Credential;
  let key: string;
  let jpeg: Buffer;

  beforeAll(async () => {
    jpeg = await solidJpeg(40, 30);
    t = await startTestApp({ MAX_UPLOAD_BYTES: '200000' });
    app = t.app;
    ds = app.get(DataSource);
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const res = await call(app, 'POST', '/api/v1/api-keys', admin, {
      name: 'shop sync',
      role: Role.Staff,
      scopes: ['images:write', 'images:read'],
    });
    expect(res.statusCode).toBe(201);
    key = res.json<{ key: string }>().key;
  });

  afterEach(() => jest.restoreAllMocks());

  afterAll(async () => {
    await t?.close();
  });

  async function createProduct(body: object): Promise<string> {
    const res = await call(app, 'POST', '/api/v1/products', admin, body);
    expect(res.statusCode).toBe(201);
    return res.json<{ id: string }>().id;
  }

  /**
   * Runs `meanwhile` (another writer) once the token API has looked up its product, while the
   * image is being processed: the spy holds the request there, then the real upload runs.
   */
  function whileTheNextUploadRuns(meanwhile: () => Promise<void>): void {
    const images = app.get(ImagesService);
    const upload = images.upload.bind(images);
    jest.spyOn(images, 'upload').mockImplementationOnce(async (...args) => {
      await meanwhile();
      return upload(...args);
    });
  }

  function tokenApiUpload(productId: string) {
    const body = multipart({ alt_text: 'Front' }, [{ data: jpeg, filename: 'front.jpg' }]);
    return call(app, 'POST', `/api/products/${productId}/images`, { token: key }, body.payload, {
      headers: body.headers,
    });
  }

  async function productOfImage(number: number): Promise<string> {
    const [row] = await ds.query<{ product_id: string }[]>(
      'SELECT product_id FROM images WHERE number = $1',
      [number],
    );
    return row.product_id;
  }

  async function imageCount(productId: string): Promise<number> {
    const [row] = await ds.query<{ count: number }[]>(
      'SELECT count(*)::int AS count FROM images WHERE product_id = $1',
      [decodeId(productId)],
    );
    return row.count;
  }

  it('token API: an upload whose external id moves to another product meanwhile joins that product', async () => {
    // The main API's rule (README, "Work addressed by external id"): a request addressed by
    // external id acts on the product that has it when the work commits, never on the one it left.
    const left = await createProduct({ name: 'Left', external_id: '4711' });
    const joined = await createProduct({ name: 'Joined' });
    whileTheNextUploadRuns(async () => {
      const cleared = await call(app, 'PATCH', `/api/v1/products/${left}`, admin, {
        external_id: null,
      });
      expect(cleared.statusCode).toBe(200);
      const moved = await call(app, 'PATCH', `/api/v1/products/${joined}`, admin, {
        external_id: '4711',
      });
      expect(moved.statusCode).toBe(200);
    });
    const res = await tokenApiUpload('4711');
    expect(res.statusCode).toBe(201);
    expect(await productOfImage(res.json<{ id: number }>().id)).toBe(decodeId(joined));
    expect(await imageCount(left)).toBe(0);
  });

  it('token API: an upload whose product is deleted and made again with its external id meanwhile joins the new one', async () => {
    const old = await createProduct({ name: 'Old', external_id: '4712' });
    let made = '';
    whileTheNextUploadRuns(async () => {
      const deleted = await call(app, 'DELETE', `/api/v1/products/${old}`, admin);
      expect(deleted.statusCode).toBe(204);
      made = await createProduct({ name: 'New', external_id: '4712' });
    });
    const res = await tokenApiUpload('4712');
    expect(res.statusCode).toBe(201);
    expect(await productOfImage(res.json<{ id: number }>().id)).toBe(decodeId(made));
  });

  it('token API: an upload whose external id no product has any more when it commits is 404 product_not_found', async () => {
    const gone = await createProduct({ name: 'Gave it up', external_id: '4713' });
    whileTheNextUploadRuns(async () => {
      const cleared = await call(app, 'PATCH', `/api/v1/products/${gone}`, admin, {
        external_id: null,
      });
      expect(cleared.statusCode).toBe(200);
    });
    const res = await tokenApiUpload('4713');
    // The token API's documented refusal of an unknown product: the service's problem+json.
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ code: 'product_not_found', status: 404 });
    expect(await imageCount(gone)).toBe(0);
  });

  it('Inventorum: an image deleted right after its upload commits is 404 image_not_found, no 500', async () => {
    const images = app.get(ImagesService);
    const uploadStandalone = images.uploadStandalone.bind(images);
    jest.spyOn(images, 'uploadStandalone').mockImplementationOnce(async (...args) => {
      const image = await uploadStandalone(...args);
      // Another client (a clean-up script listing GET /api/v1/images) deletes it at once.
      const deleted = await call(app, 'DELETE', `/api/v1/images/${image.id}`, admin);
      expect(deleted.statusCode).toBe(204);
      return image;
    });
    const body = multipart({ type: 'product' }, [{ data: jpeg, filename: 'photo.jpg' }]);
    const res = await call(app, 'POST', '/api/images/', { bearer: key }, body.payload, {
      headers: { ...body.headers, 'x-api-version': '12' },
    });
    // As the token API answers the same race (TokenApiService.numbers); a 404 is none of the
    // form errors Inventorum's envelope carries, so it stays the service's problem+json.
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ code: 'image_not_found', status: 404 });
  });
});
