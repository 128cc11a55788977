import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import sharp from 'sharp';
import { Role } from '../../src/auth/roles';
import { decodeId } from '../../src/common/ids/short-id';
import { addUser, filesBelow } from '../support/accounts';
import { animation, animationDelays, manyFrameWebp } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart, type FilePart } from '../support/multipart';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

const DELAYS = animationDelays(4);

interface Stored {
  format?: string;
  width?: number;
  height?: number;
  pages?: number;
  delay?: number[];
  loop?: number;
}

describe('Animated images (POST /products/:id/images)', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let mediaDir: string;
  let staff: Credential;
  let productId: string;

  function upload(file: FilePart) {
    const body = multipart({}, [file]);
    return call(app, 'POST', `/api/v1/products/${productId}/images`, staff, body.payload, {
      headers: body.headers,
    });
  }

  /** What the storage holds at a served URL, read back as an image. */
  async function stored(url: string): Promise<Stored> {
    const file = join(mediaDir, new URL(url).pathname.replace(/^\/media\//, ''));
    const { format, width, height, pages, delay, loop } = await sharp(
      await readFile(file),
    ).metadata();
    return { format, width, height, pages, delay, loop };
  }

  beforeAll(async () => {
    // Frames of 120×90 are 10,800 pixels: 4 of them are within the limit, and so are 4 of the
    // 500×500 card rendition (1,000,000); 200 of them are not.
    t = await startTestApp({ MAX_IMAGE_PIXELS: '2000000' });
    app = t.app;
    mediaDir = join(t.db.env.DATA_DIR, 'media');
    const admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    staff = await addUser(app, admin, 'anna', Role.Staff);
    const res = await call(app, 'POST', '/api/v1/products', staff, { name: 'Spinning top' });
    expect(res.statusCode).toBe(201);
    productId = res.json<{ id: string }>().id;
  });
  afterAll(() => t.close());

  it.each([
    ['gif', 'image/gif'],
    ['webp', 'image/webp'],
  ] as const)(
    'keeps an animated %s animated: the stored original and every WebP rendition',
    async (format, type) => {
      const res = await upload({
        data: await animation(format, 120, 90),
        filename: `spin.${format}`,
        contentType: type,
      });

      expect(res.statusCode).toBe(201);
      const body = res.json();
      expect(body).toMatchObject({ format, mime_type: type, width: 120, height: 90 });
      const animated = { pages: 4, delay: DELAYS, loop: 3 };
      expect(await stored(body.url)).toEqual({ format, width: 120, height: 90, ...animated });
      const renditions = Object.entries<{ url: string; width: number; height: number }>(
        body.renditions,
      );
      expect(renditions.map(([name]) => name).sort()).toEqual(['card', 'large', 'thumb']);
      for (const [name, rendition] of renditions) {
        expect({ name, ...(await stored(rendition.url)) }).toEqual({
          name,
          format: 'webp',
          width: rendition.width,
          height: rendition.height,
          ...animated,
        });
      }
      const served = await app.inject({ url: new URL(body.url).pathname });
      expect(served.statusCode).toBe(200);
      expect(served.headers['content-type']).toBe(type);

      // Delivered animated too: the responsive sources a <picture> lists first (its AVIF one
      // names WebP: an AVIF result would be the first frame alone), and f_auto for a browser
      // that takes AVIF.
      const card = body.responsive.card as { srcset: Record<'avif' | 'webp', string> };
      const auto = `/transform/unsigned/p_card,f_auto/${body.id}`;
      for (const [what, url] of [
        ['the avif source', new URL(card.srcset.avif.split(' ')[0]).pathname],
        ['the webp source', new URL(card.srcset.webp.split(' ')[0]).pathname],
        ['f_auto', auto],
      ]) {
        const result = await app.inject({
          url,
          headers: { accept: 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8' },
        });
        expect({ what, status: result.statusCode }).toEqual({ what, status: 200 });
        const meta = await sharp(result.rawPayload).metadata();
        expect({ what, format: meta.format, pages: meta.pages }).toEqual({
          what,
          format: 'webp',
          pages: 4,
        });
      }
    },
  );

  it('refuses an animation with more pixels in all its frames than MAX_IMAGE_PIXELS', async () => {
    const frames = await sharp(await animation('gif', 120, 90), { animated: true })
      .raw()
      .toBuffer();
    // 200 frames (2,160,000 pixels), each within the limit.
    const long = await sharp(Buffer.concat(Array.from({ length: 50 }, () => frames)), {
      raw: { width: 120, height: 90 * 200, channels: 4, pageHeight: 90 },
    })
      .gif({ keepDuplicateFrames: true, delay: 50 })
      .toBuffer();
    expect((await sharp(long).metadata()).pages).toBe(200);

    const folder = join(mediaDir, 'products', decodeId(productId)!);
    const before = filesBelow(folder).length;

    const res = await upload({ data: long, filename: 'long.gif', contentType: 'image/gif' });

    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({
      code: 'image_too_many_pixels',
      detail:
        'The animation has more than 2000000 pixels in its 200 frames (width × height × frames, each frame counting as at least 64×64).',
      errors: [{ field: 'image', message: 'more than 2000000 pixels in 200 frames' }],
    });
    expect(filesBelow(folder).length).toBe(before);
  });

  it('refuses an animated GIF cut short, which libvips would store with the frames before the cut', async () => {
    const whole = await animation('gif', 120, 90);
    const folder = join(mediaDir, 'products', decodeId(productId)!);
    const before = filesBelow(folder).length;

    for (const share of [0.5, 0.9]) {
      const cut = whole.subarray(0, Math.floor(whole.length * share));
      const res = await upload({ data: cut, filename: 'cut.gif', contentType: 'image/gif' });

      expect({ share, status: res.statusCode, code: res.json().code }).toEqual({
        share,
        status: 400,
        code: 'invalid_image',
      });
    }
    expect(filesBelow(folder).length).toBe(before);
  });

  it('refuses a WebP of 300,000 frames from its chunks, before libvips reads them', async () => {
    // 14 MB of 1×1 frames: each counts as 64×64, 1.2 G pixels in all. libvips' read of such a
    // header takes time quadratic in the frames (this one: minutes, holding a processing slot),
    // where counting the chunks takes milliseconds: the test's timeout is what fails otherwise.
    const bomb = await manyFrameWebp(300_000);
    const folder = join(mediaDir, 'products', decodeId(productId)!);
    const before = filesBelow(folder).length;

    const res = await upload({ data: bomb, filename: 'frames.webp', contentType: 'image/webp' });

    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      code: 'image_too_many_pixels',
      errors: [{ field: 'image', message: 'more than 2000000 pixels in 300000 frames' }],
    });
    expect(filesBelow(folder).length).toBe(before);
  });
});
