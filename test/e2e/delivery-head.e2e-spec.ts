import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { solidJpeg } from '../support/fixtures';
import { login, uploadToNewProduct, type Credential } from '../support/http';
import {
  PUBLIC_BASE,
  startStorageBackend,
  type Driver,
  type StorageBackend,
} from '../support/storage-backends';
import { transformSignature } from '../support/transform-signature';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * HEAD asked of a transform result or a /media file that the client holds already: a 304 says
 * nothing of the length (RFC 9110 8.6: a HEAD's Content-Length, like a 304's, may only be the
 * length GET would send, and a 304 sends none), where Fastify's HEAD route wrote `Content-Length:
 * 0` for a reply without a body, which a cache freshening its copy with HEAD reads as a change.
 */
const KEY = 'transform-url-key-head-0123456789abcdef';
const sign = (options: string, id: string) => transformSignature(KEY, options, id);

describe.each<Driver>(['local', 's3'])('HEAD of a current copy on %s storage', (driver) => {
  let backend: StorageBackend;
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;
  let id: string;
  let mediaPath: string;

  beforeAll(async () => {
    backend = await startStorageBackend(driver);
    t = await startTestApp({
      ...backend.env,
      PUBLIC_BASE_URL: PUBLIC_BASE,
      DELIVERY_SIGNING_KEYS: KEY,
    });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const image = await uploadToNewProduct(app, admin, await solidJpeg(400, 300), 'Head');
    id = image.id;
    mediaPath = new URL(image.url).pathname;
  });

  afterAll(async () => {
    await t?.close();
    await backend?.close();
  });

  const paths = () => [
    `/transform/${sign('w_200,f_webp', id)}/w_200,f_webp/${id}`,
    `/transform/unsigned/p_thumb,f_webp/${id}`,
    ...(driver === 'local' ? [mediaPath] : []),
  ];

  it('answers 304 to HEAD without a Content-Length of 0', async () => {
    for (const path of paths()) {
      const got = await app.inject({ method: 'GET', url: path });
      expect(got.statusCode).toBe(200);
      const etag = got.headers.etag as string;
      const head = await app.inject({ method: 'HEAD', url: path });
      expect({ path, length: head.headers['content-length'] }).toEqual({
        path,
        length: got.headers['content-length'],
      });
      // Twice: the first 304 is send's, the next one from the validators it gave.
      for (let i = 0; i < 2; i++) {
        const current = await app.inject({
          method: 'HEAD',
          url: path,
          headers: { 'if-none-match': etag },
        });
        expect({ path, status: current.statusCode, etag: current.headers.etag }).toEqual({
          path,
          status: 304,
          etag,
        });
        expect({ path, length: current.headers['content-length'] }).toEqual({
          path,
          length: undefined,
        });
        expect(current.rawPayload).toHaveLength(0);
      }
    }
  });
});
