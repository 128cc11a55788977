import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { call, login, type Credential } from '../support/http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * A JSON value that is an object with an own "constructor" key, nested in a field, reaches
 * class-transformer through validateInput (src/common/http/validation.ts), which, unlike the
 * global pipe (Nest's ValidationPipe strips such keys first), hands it over as it is:
 * class-transformer reads `value.constructor` (1) as the type to build and threw a TypeError (a
 * 500). Found by a hostile-input sweep of every route. The rows' URL is on loopback, which the
 * import's request-forgery checks refuse before any connection.
 */
describe('a nested {"constructor": …} value: 400 (or the row failed alone), never a 500', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;
  let productId: string;

  beforeAll(async () => {
    t = await startTestApp();
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    productId = (await call(app, 'POST', '/api/v1/products', admin, { name: 'Shoe' })).json<{
      id: string;
    }>().id;
  });
  afterAll(() => t?.close());

  it.each(['title', 'url', 'product_id', 'priority', 'is_primary'])(
    'POST /api/v1/imports, a row whose %s is {"constructor":1}: that row fails alone',
    async (field) => {
      const good = { product_id: productId, url: 'http://127.0.0.1:9/a.png' };
      const res = await call(app, 'POST', '/api/v1/imports', admin, {
        rows: [good, { ...good, [field]: { constructor: 1 } }],
      });
      expect({ status: res.statusCode, body: res.body.slice(0, 120) }).toMatchObject({
        status: 202,
      });
      const rows = await call(
        app,
        'GET',
        `/api/v1/imports/${res.json<{ id: string }>().id}/rows`,
        admin,
      );
      const items = rows.json<{ items: { row: number; status: string; problem: unknown }[] }>()
        .items;
      expect(items.find((item) => item.row === 2)).toMatchObject({
        status: 'failed',
        problem: { code: 'invalid_import_row' },
      });
    },
  );

  it.each(['image_id', 'title', 'alt_text', 'description', 'priority', 'is_primary'])(
    'POST /api/v1/products/{id}/images as JSON (attach), %s {"constructor":1}: 400 problem+json',
    async (field) => {
      for (const url of [
        `/api/v1/products/${productId}/images`,
        `/api/v1/products/by-gtin/4006381333931/images`,
        `/api/v1/products/by-external-id/ext-1/images`,
      ]) {
        const res = await call(app, 'POST', url, admin, {
          image_id: '6f1c1a51-8f3e-4a3c-9d6b-2f1e5f0c9a77',
          [field]: { constructor: 1 },
        });
        expect({ url, status: res.statusCode }).toEqual({
          url,
          status: url.includes('/by-') ? expect.any(Number) : 400,
        });
        expect(res.statusCode).toBeLessThan(500);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
    },
  );

  it('contrast: the global pipe refuses the same value on POST /api/v1/products (400)', async () => {
    const res = await call(app, 'POST', '/api/v1/products', admin, { name: { constructor: 1 } });
    expect(res.statusCode).toBe(400);
  });
});
