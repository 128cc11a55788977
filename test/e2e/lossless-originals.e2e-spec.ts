import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import sharp from 'sharp';
import { exifHasGps, noiseBytes } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

type Format = 'jpeg' | 'png' | 'webp';
const XMP =
  '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="Someone Private"/></rdf:RDF></x:xmpmeta>';
const TRAILER = Buffer.from('bytes after the end marker');

/** 90×60 stored pixels with GPS, a camera's EXIF, XMP, an ICC profile and trailing bytes. */
async function cameraUpload(format: Format, orientation: number): Promise<Buffer> {
  const encoded = await sharp(noiseBytes(90 * 60 * 3, 60), {
    raw: { width: 90, height: 60, channels: 3 },
  })
    .withMetadata({ orientation })
    .withIccProfile('p3')
    .withExifMerge({
      IFD0: { Make: 'Camera' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1' },
    })
    .withXmp(XMP)
    [format]()
    .toBuffer();
  return Buffer.concat([encoded, TRAILER]);
}

async function rawPixels(bytes: Buffer, rotate: boolean): Promise<Buffer> {
  return (rotate ? sharp(bytes).rotate() : sharp(bytes)).raw().toBuffer();
}

describe('Lossless originals (issue 17): an upload that needs no pixel change keeps its bytes', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;
  let productId: string;

  beforeAll(async () => {
    t = await startTestApp();
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    productId = (await call(app, 'POST', '/api/v1/products', admin, { name: 'Camera' })).json().id;
  });
  afterAll(() => t.close());

  const storedPath = (url: string): string =>
    join(t.db.env.DATA_DIR, 'media', new URL(url).pathname.replace(/^\/media\//, ''));

  const cases: [Format, number][] = (['jpeg', 'png', 'webp'] as Format[]).flatMap((format) =>
    [1, 2, 3, 4, 5, 6, 7, 8].map((orientation): [Format, number] => [format, orientation]),
  );

  it.each(cases)(
    '%s, orientation %i: same pixels, no metadata but ICC and orientation',
    async (format, orientation) => {
      const input = await cameraUpload(format, orientation);
      const inputMeta = await sharp(input).metadata();
      expect(inputMeta).toMatchObject({ orientation, hasProfile: true });
      expect(exifHasGps(inputMeta.exif)).toBe(true);

      const body = multipart({}, [
        { data: input, filename: `x.${format}`, contentType: `image/${format}` },
      ]);
      const res = await call(
        app,
        'POST',
        `/api/v1/products/${productId}/images`,
        admin,
        body.payload,
        {
          headers: body.headers,
        },
      );

      expect(res.statusCode).toBe(201);
      const image = res.json();
      const turned = orientation >= 5;
      expect(image).toMatchObject({ format, width: turned ? 60 : 90, height: turned ? 90 : 60 });
      const stored = await readFile(storedPath(image.url));
      expect(image.size).toBe(stored.length);
      const meta = await sharp(stored).metadata();
      expect(meta).toMatchObject({ format, width: 90, height: 60 });
      expect(meta.orientation ?? 1).toBe(orientation);
      expect(meta.icc).toEqual(inputMeta.icc);
      expect(exifHasGps(meta.exif)).toBe(false);
      expect(meta.exif === undefined || meta.exif.length <= 6 + 26).toBe(true);
      expect({ xmp: meta.xmp, iptc: meta.iptc, comments: meta.comments }).toEqual({
        xmp: undefined,
        iptc: undefined,
        comments: undefined,
      });
      for (const secret of ['Camera', 'Someone Private', TRAILER.toString()]) {
        expect(stored.includes(secret)).toBe(false);
      }
      expect(await rawPixels(stored, false)).toEqual(await rawPixels(input, false));
      expect(await rawPixels(stored, true)).toEqual(await rawPixels(input, true));
    },
  );
});
