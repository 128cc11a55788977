import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import sharp from 'sharp';
import { decodeId } from '../../src/common/ids/short-id';
import { TransformResults } from '../../src/images/delivery/transform-results.service';
import { pngWithAlpha } from '../support/fixtures';
import { login, uploadToNewProduct, type Credential } from '../support/http';
import { PUBLIC_BASE, startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { transformSignature } from '../support/transform-signature';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * Transform URLs as the configuration and the codecs shape them: a preset whose name has the `_`
 * or `-` IMAGE_RENDITIONS allows is asked for by name, and a PNG or GIF (encoded without a
 * quality) is one stored result whatever `q_` the URL says.
 */
const KEY = 'transform-url-key-review-0123456789abcdef';

describe('Transform URL options as configured and encoded', () => {
  let backend: StorageBackend;
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;
  let id: string;

  beforeAll(async () => {
    backend = await startStorageBackend('local');
    t = await startTestApp({
      ...backend.env,
      PUBLIC_BASE_URL: PUBLIC_BASE,
      DELIVERY_SIGNING_KEYS: KEY,
      IMAGE_RENDITIONS: 'thumb:150x150:cover,hero_wide:80x40:cover,product-card:50x50:attention',
    });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    id = (await uploadToNewProduct(app, admin, await pngWithAlpha())).id;
  });

  afterAll(async () => {
    await t?.close();
    await backend?.close();
  });

  const get = (url: string) => app.inject({ method: 'GET', url });
  const signed = (options: string) =>
    `/transform/${transformSignature(KEY, options, id)}/${options}/${id}`;
  const derived = () =>
    backend.stored().filter((key) => key.startsWith(`derived/${decodeId(id)}/`));

  it('serves a preset named with _ or - by name, unsigned and signed', async () => {
    const wide = await get(`/transform/unsigned/p_hero_wide,f_webp/${id}`);
    expect(wide.statusCode).toBe(200);
    expect(await sharp(wide.rawPayload).metadata()).toMatchObject({ width: 80, height: 40 });
    const card = await get(signed('p_product-card,f_png'));
    expect(card.statusCode).toBe(200);
    expect(await sharp(card.rawPayload).metadata()).toMatchObject({ width: 50, height: 50 });
  });

  it('makes and stores one PNG or GIF result for every q_', async () => {
    for (const format of ['png', 'gif']) {
      const before = derived().length;
      const made = app.get(TransformResults).made;
      const bodies = [];
      for (const q of ['', ',q_1', ',q_50']) {
        const res = await get(signed(`w_64,f_${format}${q}`));
        expect(res.statusCode).toBe(200);
        bodies.push(res.rawPayload);
      }
      expect(bodies[1].equals(bodies[0]) && bodies[2].equals(bodies[0])).toBe(true);
      expect(derived().length - before).toBe(1);
      expect(app.get(TransformResults).made - made).toBe(1);
    }
  });
});
