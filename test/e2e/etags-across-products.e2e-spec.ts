import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Role } from '../../src/auth/roles';
import { addUser } from '../support/accounts';
import { solidJpeg } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

interface ImageBody {
  id: string;
}

/**
 * A product's and a gallery's ETags (their versions) name them alone: numbers are never handed out
 * twice, to any product. Work addressed by external id or GTIN finds the product that has it when
 * it commits, so an If-Match read from an earlier holder of that id (deleted since, or that gave
 * the id up) must never match the product that holds it now.
 */
describe('ETags of products and galleries across external ids and GTINs', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let jpeg: Buffer;
  const c: Record<string, Credential> = {};

  beforeAll(async () => {
    jpeg = await solidJpeg(16, 16);
    t = await startTestApp();
    app = t.app;
    c.admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    c.staff = await addUser(app, c.admin, 'rita', Role.Staff);
  });
  afterAll(() => t.close());

  function upload(base: string, fields: Record<string, string> = {}, headers = {}) {
    const body = multipart(fields, [{ data: jpeg, contentType: 'image/jpeg' }]);
    return call(app, 'POST', base, c.staff, body.payload, {
      headers: { ...body.headers, ...headers },
    });
  }

  async function createProduct(values: Record<string, string>): Promise<string> {
    const res = await call(app, 'POST', '/api/v1/products', c.staff, { name: 'Race', ...values });
    expect(res.statusCode).toBe(201);
    return res.json<{ id: string }>().id;
  }

  describe('never match a product or gallery they were not read from', () => {
    for (const [label, values, path] of [
      ['external id', { external_id: 'sku-recreated' }, 'by-external-id/sku-recreated'],
      ['GTIN', { gtin: '4006381333931' }, 'by-gtin/4006381333931'],
    ] as const) {
      it(`a product deleted and made again with the same ${label}: the old ETag is 412`, async () => {
        const base = `/api/v1/products/${path}/images`;
        const first = await createProduct(values);
        expect((await upload(base)).statusCode).toBe(201);
        expect((await upload(base)).statusCode).toBe(201);
        const stale = (await call(app, 'GET', base, c.staff)).headers.etag as string;
        expect((await call(app, 'DELETE', `/api/v1/products/${first}`, c.admin)).statusCode).toBe(
          204,
        );
        // Someone else makes the product again and fills its gallery.
        await createProduct(values);
        expect((await upload(base)).statusCode).toBe(201);
        const other = await upload(base);
        expect(other.statusCode).toBe(201);
        // The first editor, still holding the old product's gallery ETag, deletes "its" image.
        const res = await call(
          app,
          'DELETE',
          `${base}/${other.json<ImageBody>().id}`,
          c.staff,
          undefined,
          {
            headers: { 'if-match': stale },
          },
        );
        expect(res.statusCode).toBe(412);
        expect((await call(app, 'GET', base, c.staff)).json<{ total: number }>().total).toBe(2);
      });
    }

    it('a product deleted and made again with the same external id: its old product ETag is 412 on DELETE', async () => {
      const first = await createProduct({ external_id: 'sku-p-etag' });
      const stale = (await call(app, 'GET', `/api/v1/products/${first}`, c.staff)).headers
        .etag as string;
      expect((await call(app, 'DELETE', `/api/v1/products/${first}`, c.admin)).statusCode).toBe(
        204,
      );
      await createProduct({ external_id: 'sku-p-etag', name: 'Someone else' });
      const base = '/api/v1/products/by-external-id/sku-p-etag';
      expect((await upload(`${base}/images`)).statusCode).toBe(201);
      // The first editor retries its delete of the product it saw, with that product's ETag.
      const res = await call(app, 'DELETE', base, c.admin, undefined, {
        headers: { 'if-match': stale },
      });
      expect(res.statusCode).toBe(412);
      expect((await call(app, 'GET', base, c.staff)).statusCode).toBe(200);
    });

    it('an external id moved to another product: the ETag of the first gallery is 412 on the second', async () => {
      const a = await createProduct({ external_id: 'sku-moving' });
      const b = await createProduct({});
      const base = '/api/v1/products/by-external-id/sku-moving/images';
      expect((await upload(base)).statusCode).toBe(201);
      const stale = (await call(app, 'GET', base, c.staff)).headers.etag as string;
      // The id moves from a to b; b's gallery reaches the same version number.
      expect(
        (await call(app, 'PATCH', `/api/v1/products/${a}`, c.staff, { external_id: null }))
          .statusCode,
      ).toBe(200);
      expect(
        (await call(app, 'PATCH', `/api/v1/products/${b}`, c.staff, { external_id: 'sku-moving' }))
          .statusCode,
      ).toBe(200);
      const added = await upload(base);
      expect(added.statusCode).toBe(201);
      const res = await upload(base, { is_primary: 'true' }, { 'if-match': stale });
      expect(res.statusCode).toBe(412);
    });
  });
});
