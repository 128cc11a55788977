import { solidJpeg } from '../support/fixtures';
import { login, uploadToNewProduct } from '../support/http';
import { PUBLIC_BASE, startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { transformSignature } from '../support/transform-signature';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * A storefront on another origin that reads a transform result by ranges (fetch with `Range`, as
 * a progressive viewer or a service worker caching it does) must see where the part lies and the
 * whole length: Content-Range is not a CORS-safelisted response header, so unless the answer
 * exposes it, the page reads a 206 of unknown place and size.
 */
const KEY = 'transform-url-key-cors-0123456789abcdef';
const SHOP = 'https://shop.example';
const sign = (options: string, id: string) => transformSignature(KEY, options, id);

describe('A transform result read by ranges from another origin', () => {
  let backend: StorageBackend;
  let t: TestApp;

  beforeAll(async () => {
    backend = await startStorageBackend('local');
    t = await startTestApp({
      ...backend.env,
      PUBLIC_BASE_URL: PUBLIC_BASE,
      DELIVERY_SIGNING_KEYS: KEY,
      CORS_ORIGINS: SHOP,
    });
  });

  afterAll(async () => {
    await t?.close();
    await backend?.close();
  });

  it('exposes Content-Range to the page', async () => {
    const admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const { id } = await uploadToNewProduct(t.app, admin, await solidJpeg(400, 300), 'Ranges');
    const res = await t.app.inject({
      method: 'GET',
      url: `/transform/${sign('w_200,f_webp', id)}/w_200,f_webp/${id}`,
      headers: { origin: SHOP, range: 'bytes=0-9' },
    });
    expect(res.statusCode).toBe(206);
    expect(res.headers['access-control-allow-origin']).toBe(SHOP);
    const exposed = String(res.headers['access-control-expose-headers'])
      .split(',')
      .map((name) => name.trim().toLowerCase());
    expect(exposed).toContain('content-range');
  });
});
