import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { Role } from '../../src/auth/roles';
import { decodeId } from '../../src/common/ids/short-id';
import {
  avif,
  bmp,
  cmykJpeg,
  exifHasGps,
  gif,
  htmlBytes,
  jpegWithOrientation6AndGps,
  noisyPng,
  pngClaiming,
  pngWithAlpha,
  safeSvg,
  solidJpeg,
  svgWithDoctypeEntity,
  svgWithEventHandler,
  svgWithExternalReference,
  svgWithForeignObject,
  svgWithScript,
  truncatedJpeg,
  webp,
} from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart, type FilePart } from '../support/multipart';
import { addUser, filesBelow, otherOrganisationAdmin } from '../support/accounts';
import { eventually } from '../support/eventually';
import { pendingFileDeletions } from '../support/file-deletions';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

const execFileAsync = promisify(execFile);

describe('Image upload (POST /products/:id/images)', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let limitPng: Buffer;
  let mediaDir: string;
  let tmpDir: string;
  const c: Record<string, Credential> = {};
  let product: { id: string; gtin: string | null };
  let rejectProduct: { id: string };

  async function createProduct(
    body: object,
    as = c.staff,
  ): Promise<{ id: string; gtin: string | null }> {
    const res = await call(app, 'POST', '/api/v1/products', as, body);
    expect(res.statusCode).toBe(201);
    return res.json();
  }

  function upload(
    productId: string,
    file: FilePart | undefined,
    fields: Record<string, string> = {},
    as: Credential | null = c.staff,
  ) {
    const body = multipart(fields, file ? [file] : []);
    return call(
      app,
      'POST',
      `/api/v1/products/${productId}/images`,
      as ?? undefined,
      body.payload,
      {
        headers: body.headers,
      },
    );
  }

  async function imageRows(productId: string): Promise<number> {
    const [{ n }] = await app
      .get(DataSource)
      .query('SELECT count(*)::int AS n FROM images WHERE product_id = $1', [decodeId(productId)]);
    return n as number;
  }

  /** Nothing of a rejected upload may remain: no row, no stored file, no temporary file. */
  async function expectNothingLeft(productId: string): Promise<void> {
    expect(await imageRows(productId)).toBe(0);
    // Files already written are deleted by a file-deletion job, right after the failure.
    const folder = join(mediaDir, 'products', decodeId(productId)!);
    await eventually(() => filesBelow(folder).length === 0, 'the written files to be deleted');
    await expectNoTempFiles();
  }

  async function expectNoTempFiles(): Promise<void> {
    // Temporary files go when the response has been sent (an onResponse hook): allow it a moment.
    for (let i = 0; i < 50 && filesBelow(tmpDir).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(filesBelow(tmpDir)).toEqual([]);
    expect(filesBelow(join(mediaDir, '.tmp'))).toEqual([]);
  }

  /** The app's port on loopback, for real clients (it listens from the first call on). */
  async function listeningPort(): Promise<number> {
    const server = app.getHttpServer();
    if (!server.listening) await app.listen({ port: 0, host: '127.0.0.1' });
    return (server.address() as AddressInfo).port;
  }

  function storedPath(url: string): string {
    return join(mediaDir, new URL(url).pathname.replace(/^\/media\//, ''));
  }

  beforeAll(async () => {
    limitPng = await noisyPng(200, 170);
    t = await startTestApp({ MAX_UPLOAD_BYTES: String(limitPng.length) });
    app = t.app;
    mediaDir = join(t.db.env.DATA_DIR, 'media');
    tmpDir = join(t.db.env.DATA_DIR, 'tmp', 'uploads');
    c.admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    c.staff = await addUser(app, c.admin, 'stan', Role.Staff);
    c.user = await addUser(app, c.admin, 'uma', Role.User);
    product = await createProduct({ name: 'Gallery product', gtin: '4006381333931' });
    rejectProduct = await createProduct({ name: 'Rejections' });
  });
  afterAll(() => t.close());

  describe('accepted images', () => {
    it("stores a JPEG with EXIF orientation 6 displayed upright, with no GPS and no EXIF but the original's orientation", async () => {
      const res = await upload(
        product.id,
        {
          data: await jpegWithOrientation6AndGps(),
          filename: 'IMG_0001.JPG',
          contentType: 'image/jpeg',
        },
        { title: 'Front', alt_text: 'The front of the box' },
      );
      expect(res.statusCode).toBe(201);
      const body = res.json();
      expect(res.headers.location).toBe(`/api/v1/products/${product.id}/images/${body.id}`);
      expect(body).toMatchObject({
        product_id: product.id,
        title: 'Front',
        alt_text: 'The front of the box',
        original_filename: 'IMG_0001.JPG',
        format: 'jpeg',
        mime_type: 'image/jpeg',
        width: 200,
        height: 300,
        color_mode: 'RGB',
        has_alpha: false,
        is_primary: true, // the first image of a product
        priority: 0,
        purpose: 'product',
        uploaded_by: { username: 'stan' },
      });
      expect(body.id).toMatch(/^[2-9A-HJ-NP-Za-km-z]{22}$/);
      expect(body.human_readable_size).toMatch(/^\d+(\.\d)? (bytes|KB|MB)$/);
      expect(Object.keys(body.renditions).sort()).toEqual(['card', 'large', 'thumb']);
      expect(body.renditions.thumb).toMatchObject({ width: 150, height: 150, format: 'webp' });
      expect(body.renditions.card).toMatchObject({ width: 500, height: 500, format: 'webp' });
      expect(body.renditions.large).toMatchObject({ width: 200, height: 300, format: 'webp' });

      const files = [
        body.url,
        ...Object.values(body.renditions).map((r) => (r as { url: string }).url),
      ];
      for (const url of files) {
        const bytes = await readFile(storedPath(url));
        const meta = await sharp(bytes).metadata();
        // Issue 17: the original keeps its bytes and its orientation, as its only EXIF field.
        const isOriginal = url === body.url;
        if (!isOriginal) expect(meta.exif).toBeUndefined();
        expect(exifHasGps(meta.exif)).toBe(false);
        expect(meta.orientation ?? 1).toBe(isOriginal ? 6 : 1);
      }
      const original = await readFile(storedPath(body.url));
      expect(body.size).toBe(original.length);
      expect(body.sha256).toBe(createHash('sha256').update(original).digest('hex'));
      // Upright as displayed: the red half of the landscape source is now on top.
      const { data } = await sharp(original).rotate().raw().toBuffer({ resolveWithObject: true });
      expect(data[0]).toBeGreaterThan(200);
      expect(data[2]).toBeLessThan(60);
      expect(await imageRows(product.id)).toBe(1);
    });

    it.each([
      [
        'a CMYK JPEG',
        cmykJpeg,
        'image/jpeg',
        { format: 'jpeg', color_mode: 'CMYK', has_alpha: false },
      ],
      [
        'a PNG with alpha',
        pngWithAlpha,
        'image/png',
        { format: 'png', color_mode: 'RGBA', has_alpha: true },
      ],
      [
        'an opaque GIF, its unused transparent index aside',
        gif,
        'image/gif',
        { format: 'gif', mime_type: 'image/gif', color_mode: 'RGB', has_alpha: false },
      ],
      ['a WebP', webp, 'image/webp', { format: 'webp', mime_type: 'image/webp' }],
      ['an AVIF', avif, 'image/avif', { format: 'avif', mime_type: 'image/avif' }],
      [
        'a BMP, stored as PNG',
        () => Promise.resolve(bmp()),
        'image/bmp',
        {
          format: 'png',
          mime_type: 'image/png',
          width: 64,
          height: 48,
          color_mode: 'RGB',
          has_alpha: false,
        },
      ],
    ])('accepts %s', async (_name, make, type, expected) => {
      const res = await upload(product.id, {
        data: await make(),
        filename: 'x',
        contentType: type,
      });
      expect(res.statusCode).toBe(201);
      const body = res.json();
      expect(body).toMatchObject(expected);
      const stored = await sharp(await readFile(storedPath(body.url))).metadata();
      expect(stored.space).toBe('srgb');
      expect(stored.exif).toBeUndefined();
      for (const r of Object.values<{ url: string }>(body.renditions)) {
        expect(existsSync(storedPath(r.url))).toBe(true);
      }
    });

    it('accepts a clean SVG, re-serialised, and serves it sandboxed', async () => {
      const res = await upload(product.id, {
        data: safeSvg(),
        filename: 'logo.svg',
        contentType: 'image/svg+xml',
      });
      expect(res.statusCode).toBe(201);
      const body = res.json();
      expect(body).toMatchObject({
        format: 'svg',
        mime_type: 'image/svg+xml',
        width: 100,
        height: 100,
      });
      expect(body.renditions.thumb.format).toBe('webp');
      const served = await app.inject({ url: new URL(body.url).pathname });
      expect(served.statusCode).toBe(200);
      expect(served.headers['content-type']).toBe('image/svg+xml');
      expect(served.headers['content-disposition']).toBe('attachment');
      expect(served.headers['content-security-policy']).toBe(
        "default-src 'none'; style-src 'unsafe-inline'; sandbox",
      );
      expect(served.body).toContain('<svg');
      expect(served.body).not.toMatch(/<!--/);
    });

    it('takes an SVG saved in UTF-16 or in declared Latin-1, and stores it as UTF-8', async () => {
      const text = safeSvg().toString('utf8').replace('</svg>', '<title>Café</title></svg>');
      const utf16 = Buffer.from(`\ufeff${text}`, 'utf16le');
      const latin1 = Buffer.from(
        `<?xml version="1.0" encoding="ISO-8859-1"?>\n${text.replace(/^<\?xml[^>]*>\s*/, '')}`,
        'latin1',
      );
      for (const data of [utf16, latin1]) {
        const res = await upload(product.id, {
          data,
          filename: 'logo.svg',
          contentType: 'image/svg+xml',
        });
        expect(res.statusCode).toBe(201);
        expect(res.json()).toMatchObject({ format: 'svg', width: 100, height: 100 });
        const stored = await readFile(storedPath(res.json().url), 'utf8');
        expect(stored.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
        expect(stored).toContain('<title>Café</title>');
      }
    });

    it('uploads by GTIN (any length), and an explicit priority is kept', async () => {
      const body = multipart({ priority: '7' }, [
        { data: await solidJpeg(), contentType: 'image/jpeg' },
      ]);
      const res = await call(
        app,
        'POST',
        '/api/v1/products/by-gtin/4006381333931/images',
        c.staff,
        body.payload,
        {
          headers: body.headers,
        },
      );
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({ product_id: product.id, priority: 7 });
    });

    it('puts a new image after the last one by default, and a new primary demotes the old', async () => {
      const p = await createProduct({ name: 'Ordering' });
      const first = (
        await upload(p.id, { data: await solidJpeg(), contentType: 'image/jpeg' })
      ).json();
      const second = (
        await upload(p.id, { data: await solidJpeg(), contentType: 'image/jpeg' })
      ).json();
      expect(first).toMatchObject({ is_primary: true, priority: 0 });
      expect(second).toMatchObject({ is_primary: false, priority: 1 });
      const third = (
        await upload(
          p.id,
          { data: await solidJpeg(), contentType: 'image/jpeg' },
          { is_primary: 'true' },
        )
      ).json();
      expect(third).toMatchObject({ is_primary: true, priority: 2 });
      const again = await call(app, 'GET', `/api/v1/products/${p.id}/images/${first.id}`, c.user);
      expect(again.json().is_primary).toBe(false);
      const prod = (await call(app, 'GET', `/api/v1/products/${p.id}`, c.user)).json();
      expect(prod).toMatchObject({ image_count: 3, primary_image: { id: third.id } });
    });

    it('returns an uploaded image by id, with the same body', async () => {
      const created = (
        await upload(product.id, { data: await solidJpeg(), contentType: 'image/jpeg' })
      ).json();
      const res = await call(
        app,
        'GET',
        `/api/v1/products/${product.id}/images/${created.id}`,
        c.user,
      );
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual(created);
    });

    it('accepts a file of exactly MAX_UPLOAD_BYTES', async () => {
      const res = await upload(product.id, { data: limitPng, contentType: 'image/png' });
      expect(res.statusCode).toBe(201);
    });
  });

  describe('rejected uploads leave nothing behind', () => {
    const cases: [string, () => Promise<FilePart | undefined>, number, string][] = [
      [
        'an SVG with a script',
        async () => ({ data: svgWithScript(), contentType: 'image/svg+xml' }),
        400,
        'unsafe_svg',
      ],
      [
        'an SVG with an event handler',
        async () => ({ data: svgWithEventHandler() }),
        400,
        'unsafe_svg',
      ],
      [
        'an SVG with foreignObject',
        async () => ({ data: svgWithForeignObject() }),
        400,
        'unsafe_svg',
      ],
      [
        'an SVG with an external reference',
        async () => ({ data: svgWithExternalReference() }),
        400,
        'unsafe_svg',
      ],
      [
        'an SVG with a DOCTYPE entity',
        async () => ({ data: svgWithDoctypeEntity() }),
        400,
        'unsafe_svg',
      ],
      [
        'HTML bytes named .png and declared image/png',
        async () => ({ data: htmlBytes(), filename: 'cat.png', contentType: 'image/png' }),
        400,
        'unsupported_image_type',
      ],
      [
        'a PDF',
        async () => ({
          data: Buffer.from('%PDF-1.4\n%âãÏÓ\n1 0 obj\n<<>>\nendobj\n'),
          contentType: 'image/jpeg',
        }),
        400,
        'unsupported_image_type',
      ],
      [
        'a zero-byte file',
        async () => ({ data: Buffer.alloc(0), contentType: 'image/png' }),
        400,
        'image_required',
      ],
      ['no image part', async () => undefined, 400, 'image_required'],
      [
        'a truncated JPEG',
        async () => ({ data: await truncatedJpeg(), contentType: 'image/jpeg' }),
        400,
        'invalid_image',
      ],
      [
        'a PNG whose header claims 100000×100000 pixels',
        async () => ({ data: pngClaiming(100_000, 100_000) }),
        400,
        'image_too_many_pixels',
      ],
      [
        'a file one byte over the limit',
        async () => ({ data: Buffer.concat([limitPng, Buffer.from([0])]) }),
        413,
        'file_too_large',
      ],
      [
        'a file far over the limit',
        async () => ({ data: Buffer.concat([limitPng, Buffer.alloc(3 * limitPng.length)]) }),
        413,
        'file_too_large',
      ],
    ];

    it.each(cases)('%s', async (_name, make, status, code) => {
      const res = await upload(rejectProduct.id, await make());
      expect(res.statusCode).toBe(status);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.json().code).toBe(code);
      if (status === 400 && code !== 'unsupported_image_type') {
        expect(res.json().errors).toEqual(
          expect.arrayContaining([expect.objectContaining({ field: 'image' })]),
        );
      }
      // The limit is named, so the client knows how far to shrink the file.
      if (code === 'file_too_large') {
        expect(res.json().detail).toBe(
          `The file is larger than the upload limit (${limitPng.length} bytes).`,
        );
      }
      await expectNothingLeft(rejectProduct.id);
    });

    it('refuses two files', async () => {
      const body = multipart({}, [
        { data: await solidJpeg(), contentType: 'image/jpeg' },
        { data: await solidJpeg(), contentType: 'image/jpeg' },
      ]);
      const res = await call(
        app,
        'POST',
        `/api/v1/products/${rejectProduct.id}/images`,
        c.staff,
        body.payload,
        {
          headers: body.headers,
        },
      );
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('too_many_files');
      await expectNothingLeft(rejectProduct.id);
    });

    it('refuses a part without a name, file or text, naming the rule (not "undefined")', async () => {
      const jpeg = await solidJpeg();
      const boundary = 'no-name-boundary';
      const bodies = [
        // A file part whose Content-Disposition names a file but no field.
        Buffer.concat([
          Buffer.from(
            `--${boundary}\r\nContent-Disposition: form-data; filename="a.jpg"\r\n` +
              'Content-Type: image/jpeg\r\n\r\n',
          ),
          jpeg,
          Buffer.from(`\r\n--${boundary}--\r\n`),
        ]),
        // A text part without a name, before the image.
        Buffer.concat([
          Buffer.from(`--${boundary}\r\nContent-Disposition: form-data\r\n\r\nalt\r\n`),
          Buffer.from(
            `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n` +
              'Content-Type: image/jpeg\r\n\r\n',
          ),
          jpeg,
          Buffer.from(`\r\n--${boundary}--\r\n`),
        ]),
      ];
      for (const payload of bodies) {
        const res = await call(
          app,
          'POST',
          `/api/v1/products/${rejectProduct.id}/images`,
          c.staff,
          payload,
          { headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } },
        );
        expect(res.statusCode).toBe(400);
        expect(res.json()).toMatchObject({
          code: 'invalid_multipart',
          detail: expect.stringContaining('has no name') as unknown,
        });
      }
      await expectNothingLeft(rejectProduct.id);
    });

    it('refuses an image sent as a text part (no filename), saying to send it as a file', async () => {
      const boundary = 'text-image-boundary';
      const payload = Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="image"\r\n` +
            'Content-Type: image/jpeg\r\n\r\n',
        ),
        await solidJpeg(),
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      const res = await call(
        app,
        'POST',
        `/api/v1/products/${rejectProduct.id}/images`,
        c.staff,
        payload,
        { headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } },
      );
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        code: 'image_required',
        errors: [{ field: 'image', message: 'must be a file part, with a filename' }],
      });
      await expectNothingLeft(rejectProduct.id);
    });

    it('refuses too many fields', async () => {
      const fields = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, 'x']));
      const body = multipart(fields, [{ data: await solidJpeg(), contentType: 'image/jpeg' }]);
      const res = await call(
        app,
        'POST',
        `/api/v1/products/${rejectProduct.id}/images`,
        c.staff,
        body.payload,
        {
          headers: body.headers,
        },
      );
      expect(res.statusCode).toBe(413);
      expect(res.json().code).toBe('too_many_parts');
      await expectNothingLeft(rejectProduct.id);
    });

    it('keeps a text field whole up to its limit in characters of any script, and refuses one past the multipart limit, never cutting it', async () => {
      // 5,000 characters (the description's limit), four UTF-8 bytes each: 20,000 bytes. The
      // multipart reader cut values at 8 KiB and the cut value was stored, ending mid-character.
      const description = '😀'.repeat(5000);
      const kept = await upload(
        rejectProduct.id,
        { data: await solidJpeg(), contentType: 'image/jpeg' },
        { description },
      );
      expect(kept.statusCode).toBe(201);
      expect(kept.json().description).toBe(description);
      const deleted = await call(
        app,
        'DELETE',
        `/api/v1/products/${rejectProduct.id}/images/${kept.json().id}`,
        c.staff,
      );
      expect(deleted.statusCode).toBe(204);

      const res = await upload(
        rejectProduct.id,
        { data: await solidJpeg(), contentType: 'image/jpeg' },
        { title: 'x'.repeat(25 * 1024) },
      );
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        code: 'validation_failed',
        errors: [{ field: 'title', message: 'must be at most 24576 bytes' }],
      });
      await expectNothingLeft(rejectProduct.id);
    });

    it.each([
      [{ title: 'x'.repeat(256) }, 'title'],
      [{ alt_text: 'x'.repeat(1001) }, 'alt_text'],
      [{ priority: '-1' }, 'priority'],
      [{ priority: 'first' }, 'priority'],
      [{ is_primary: 'yes please' }, 'is_primary'],
      [{ colour: 'red' }, 'colour'],
    ])('refuses invalid fields %j', async (fields, field) => {
      const res = await upload(
        rejectProduct.id,
        { data: await solidJpeg(), contentType: 'image/jpeg' },
        fields,
      );
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('validation_failed');
      expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
      await expectNothingLeft(rejectProduct.id);
    });

    it('reads a JSON body as an attach request, and refuses other bodies', async () => {
      const url = `/api/v1/products/${rejectProduct.id}/images`;
      const json = await call(app, 'POST', url, c.staff, { image: 'x' });
      expect(json.statusCode).toBe(400);
      expect(json.json().code).toBe('validation_failed');
      const fields = json.json().errors.map((e: { field: string }) => e.field);
      expect([...new Set(fields)].sort()).toEqual(['image', 'image_id']);
      const form = await call(app, 'POST', url, c.staff, 'image=x', {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(form.statusCode).toBe(415);
      expect(form.headers['content-type']).toMatch(/^application\/problem\+json/);
      await expectNothingLeft(rejectProduct.id);
    });

    it('answers 404 for an unknown product', async () => {
      const res = await upload('00000000-0000-4000-8000-000000000000', { data: await solidJpeg() });
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('product_not_found');
      await expectNoTempFiles();
    });

    it("answers 404 for another organisation's product, as for an unknown one", async () => {
      const rival = await otherOrganisationAdmin(app, 'rival', 'rival');
      const res = await upload(rejectProduct.id, { data: await solidJpeg() }, {}, rival);
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('product_not_found');
      await expectNothingLeft(rejectProduct.id);
    });

    it('answers 403 to a plain user and 401 to an anonymous caller', async () => {
      const asUser = await upload(rejectProduct.id, { data: await solidJpeg() }, {}, c.user);
      expect(asUser.statusCode).toBe(403);
      const anonymous = await upload(rejectProduct.id, { data: await solidJpeg() }, {}, null);
      expect(anonymous.statusCode).toBe(401);
      await expectNothingLeft(rejectProduct.id);
    });

    it('answers 502 when storage fails, leaving no row and no file', async () => {
      const p = await createProduct({ name: 'Storage fails' });
      // A file where the product's directory should go: every write under it fails, for real.
      const blocker = join(mediaDir, 'products', decodeId(p.id)!);
      mkdirSync(join(mediaDir, 'products'), { recursive: true });
      writeFileSync(blocker, 'not a directory');
      const res = await upload(p.id, { data: await solidJpeg(), contentType: 'image/jpeg' });
      expect(res.statusCode).toBe(502);
      expect(res.json().code).toBe('storage_unavailable');
      expect(await imageRows(p.id)).toBe(0);
      // Nothing was written; the key it tried is queued for deletion all the same, which
      // succeeds at once (a missing object counts as deleted): nothing stays queued.
      await eventually(
        async () => (await pendingFileDeletions(app.get(DataSource))).length === 0,
        'the queued deletion to be done',
      );
      await expectNoTempFiles();
    });

    it('deletes the stored files when the database insert fails', async () => {
      const p = await createProduct({ name: 'Insert fails' });
      const ds = app.get(DataSource);
      // A real failure inside PostgreSQL, after every file has been written.
      await ds.query(`CREATE FUNCTION refuse_image() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION 'refused by test trigger'; END $$ LANGUAGE plpgsql`);
      await ds.query(`CREATE TRIGGER refuse_image BEFORE INSERT ON images FOR EACH ROW
        WHEN (NEW.title = 'refuse me') EXECUTE FUNCTION refuse_image()`);
      try {
        const res = await upload(
          p.id,
          { data: await solidJpeg(), contentType: 'image/jpeg' },
          { title: 'refuse me' },
        );
        expect(res.statusCode).toBe(500);
        expect(res.json().code).toBe('internal_error');
        expect(res.body).not.toContain('refused by test trigger');
        await expectNothingLeft(p.id);
      } finally {
        await ds.query('DROP TRIGGER refuse_image ON images');
        await ds.query('DROP FUNCTION refuse_image()');
      }
    });
  });

  describe('description, form values as clients send them, and what validation says', () => {
    const jpegPart = async () => ({ data: await solidJpeg(), contentType: 'image/jpeg' });

    it('stores a description with the upload; PATCH changes it, and only it', async () => {
      const p = await createProduct({ name: 'Described' });
      const res = await upload(p.id, await jpegPart(), {
        title: 'Side',
        description: 'Mesh upper, foam sole.\nMachine washable.',
      });
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({
        title: 'Side',
        alt_text: '',
        description: 'Mesh upper, foam sole.\nMachine washable.',
      });
      const url = `/api/v1/products/${p.id}/images/${res.json().id}`;
      const patched = await call(app, 'PATCH', url, c.staff, { description: 'x'.repeat(5000) });
      expect(patched.statusCode).toBe(200);
      expect(patched.json()).toMatchObject({ title: 'Side', description: 'x'.repeat(5000) });
      expect((await call(app, 'GET', url, c.user)).json()).toEqual(patched.json());
      const [stored] = await app
        .get(DataSource)
        .query('SELECT description FROM images WHERE id = $1', [decodeId(res.json().id)]);
      expect(stored.description).toBe('x'.repeat(5000));
      const tooLong = await call(app, 'PATCH', url, c.staff, { description: 'x'.repeat(5001) });
      expect(tooLong.statusCode).toBe(400);
      expect(tooLong.json().errors.map((e: { field: string }) => e.field)).toEqual(['description']);
      const listed = (await call(app, 'GET', `/api/v1/products/${p.id}/images`, c.user)).json();
      expect(listed.items[0].description).toBe('x'.repeat(5000));
    });

    it('refuses a description over 5000 characters at upload, leaving nothing', async () => {
      const res = await upload(rejectProduct.id, await jpegPart(), {
        description: 'x'.repeat(5001),
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().errors.map((e: { field: string }) => e.field)).toEqual(['description']);
      await expectNothingLeft(rejectProduct.id);
    });

    it.each([
      ['True', true],
      ['true', true],
      ['TRUE', true],
      ['1', true],
      ['yes', true],
      ['Yes', true],
      ['on', true],
      ['ON', true],
      [' true ', true],
      ['False', false],
      ['false', false],
      ['0', false],
      ['no', false],
      ['NO', false],
      ['off', false],
      ['Off', false],
    ])('reads is_primary=%j as %s', async (text, primary) => {
      const p = await createProduct({ name: `Flag ${text}` });
      expect((await upload(p.id, await jpegPart())).statusCode).toBe(201);
      const res = await upload(p.id, await jpegPart(), { is_primary: text, priority: ' 4 ' });
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({ is_primary: primary, priority: 4 });
    });

    it.each([['maybe'], ['y'], ['2'], ['truth'], ['']])(
      'refuses is_primary=%j: 400 naming it',
      async (text) => {
        const res = await upload(rejectProduct.id, await jpegPart(), { is_primary: text });
        expect(res.statusCode).toBe(400);
        expect(res.json().errors).toEqual([
          { field: 'is_primary', message: 'is_primary must be true or false' },
        ]);
        await expectNothingLeft(rejectProduct.id);
      },
    );

    it('takes the form Python requests sends (True, False, numbers), with the real client', async () => {
      const key = await call(app, 'POST', '/api/v1/api-keys', c.admin, {
        name: 'python',
        role: Role.Staff,
        scopes: ['images:write', 'images:read'],
      });
      expect(key.statusCode).toBe(201);
      const p = await createProduct({ name: 'From Python' });
      const base = `http://127.0.0.1:${await listeningPort()}`;
      const file = join(t.db.env.DATA_DIR, 'python-upload.jpg');
      writeFileSync(file, await solidJpeg());
      const script = `
import json, sys, requests
url, key, path = sys.argv[1:4]
answers = []
for fields in ({"title": "First", "is_primary": False, "priority": 3},
               {"title": "Second", "is_primary": True, "description": "From requests"}):
    with open(path, "rb") as f:
        r = requests.post(url, headers={"X-API-Key": key}, data=fields,
                          files={"image": ("shoe.jpg", f, "image/jpeg")})
    answers.append({"status": r.status_code, "body": r.json()})
print(json.dumps(answers))
`;
      const { stdout } = await execFileAsync(
        'python3',
        ['-c', script, `${base}/api/v1/products/${p.id}/images`, key.json().key, file],
        { timeout: 60_000 },
      );
      const [first, second] = JSON.parse(stdout) as { status: number; body: object }[];
      expect(first).toMatchObject({
        status: 201,
        body: { title: 'First', is_primary: true, priority: 3 }, // the first image is primary
      });
      expect(second).toMatchObject({
        status: 201,
        body: { title: 'Second', is_primary: true, description: 'From requests' },
      });
      const gallery = (await call(app, 'GET', `/api/v1/products/${p.id}/images`, c.user)).json();
      expect(gallery.items.map((i: { title: string }) => i.title)).toEqual(['Second', 'First']);
    });

    it('says "is required" of a required field left out, whatever its type', async () => {
      const attach = await call(
        app,
        'POST',
        `/api/v1/products/${rejectProduct.id}/images/attach`,
        c.staff,
        {},
      );
      expect(attach.statusCode).toBe(400);
      expect(attach.json().errors).toEqual([{ field: 'image_id', message: 'is required' }]);
      const reorder = await call(
        app,
        'PUT',
        `/api/v1/products/${rejectProduct.id}/images/order`,
        c.staff,
        {},
      );
      expect(reorder.json().errors).toEqual([{ field: 'image_ids', message: 'is required' }]);
      const product = await call(app, 'POST', '/api/v1/products', c.staff, {});
      expect(product.statusCode).toBe(400);
      expect(product.json().errors).toEqual([{ field: 'name', message: 'is required' }]);
      // A value that is there but wrong keeps its own message.
      const wrong = await call(
        app,
        'POST',
        `/api/v1/products/${rejectProduct.id}/images/attach`,
        c.staff,
        {
          image_id: 5,
        },
      );
      expect(wrong.json().errors).toContainEqual({
        field: 'image_id',
        message: 'image_id must be a string',
      });
    });

    it('says "must be an integer" of a number that is not whole', async () => {
      const p = await createProduct({ name: 'Fractions' });
      const image = (await upload(p.id, await jpegPart())).json();
      const url = `/api/v1/products/${p.id}/images/${image.id}`;
      const patch = await call(app, 'PATCH', url, c.staff, { priority: 1.5 });
      expect(patch.statusCode).toBe(400);
      expect(patch.json().errors).toEqual([
        { field: 'priority', message: 'priority must be an integer' },
      ]);
      const form = await upload(rejectProduct.id, await jpegPart(), { priority: '1.5' });
      expect(form.json().errors).toEqual([
        { field: 'priority', message: 'priority must be an integer ≥ 0' },
      ]);
      const page = await call(app, 'GET', `/api/v1/products/${p.id}/images?per_page=2.5`, c.user);
      expect(page.statusCode).toBe(400);
      expect(page.json().errors).toEqual([
        { field: 'per_page', message: 'per_page must be an integer from 1 to 500' },
      ]);
      await expectNothingLeft(rejectProduct.id);
    });
  });

  describe('served files (/media)', () => {
    let url: string;
    beforeAll(async () => {
      url = (
        await upload(product.id, { data: await solidJpeg(), contentType: 'image/jpeg' })
      ).json().renditions.card.url;
    });

    it('are served with exact type, strong ETag, immutable caching and nosniff; 304 when unchanged', async () => {
      const path = new URL(url).pathname;
      const res = await app.inject({ url: path });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('image/webp');
      expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers.etag).toMatch(/^"[^"]+"$/);
      expect(Number(res.headers['content-length'])).toBe(res.rawPayload.length);
      const again = await app.inject({
        url: path,
        headers: { 'if-none-match': res.headers.etag as string },
      });
      expect(again.statusCode).toBe(304);
      expect(again.rawPayload.length).toBe(0);
    });

    it('never leave the storage root', async () => {
      const port = await listeningPort();
      const net = await import('node:net');
      const raw = (path: string) =>
        new Promise<string>((resolve, reject) => {
          const socket = net.connect(port, '127.0.0.1', () =>
            socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
          );
          let out = '';
          socket.on('data', (d) => (out += d.toString()));
          socket.on('end', () => resolve(out));
          socket.on('error', reject);
        });
      for (const path of [
        '/media/../../../../etc/passwd',
        '/media/products/..%2f..%2f..%2fetc%2fpasswd',
        '/media/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
        '/media/products/%252e%252e/x',
        '/media/.tmp/x',
        '/media/products/x%00.webp',
        `/media/${relative(mediaDir, '/etc/passwd')}`,
      ]) {
        const response = await raw(path);
        expect(response).toMatch(/^HTTP\/1\.1 (400|404)/);
        expect(response).not.toContain('root:');
      }
    });
  });
});
