import { randomUUID } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { Role } from '../../src/auth/roles';
import { decodeId, encodeShortId } from '../../src/common/ids/short-id';
import {
  UNATTACHED_IMAGE_SWEEP_QUEUE,
  UnattachedImageSweeper,
} from '../../src/images/assets/unattached-image-sweeper';
import { StandaloneImagesRepository } from '../../src/images/assets/standalone-images.repository';
import { JobQueue } from '../../src/jobs/job-queue.service';
import { STORAGE_PROVIDER, type StorageProvider } from '../../src/storage/storage-provider';
import { addUser, filesBelow, otherOrganisationAdmin } from '../support/accounts';
import {
  bmp,
  htmlBytes,
  noisyPng,
  safeSvg,
  solidJpeg,
  svgWithScript,
  truncatedJpeg,
} from '../support/fixtures';
import { eventually } from '../support/eventually';
import { call, login, type Credential } from '../support/http';
import { multipart, type FilePart } from '../support/multipart';
import { pendingFileDeletions } from '../support/file-deletions';
import { fetchDelivered, PUBLIC_BASE } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

interface StandaloneBody {
  id: string;
  key: string;
  url: string;
  purpose: string;
  title: string;
  alt_text: string;
  description: string;
  renditions: Record<string, string>;
  format: string;
  width: number;
  height: number;
  size: number;
  original_filename: string;
  created_at: string;
  updated_at: string;
  expires_at: string | null;
}

interface ImageBody {
  id: string;
  product_id: string | null;
  title: string;
  alt_text: string;
  description: string;
  is_primary: boolean;
  priority: number;
  url: string;
  renditions: Record<string, { url: string }>;
}

const SHORT_ID = /^[2-9A-HJ-NP-Za-km-z]{22}$/;
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** The expiry the upload-then-attach tests ask for: an hour. */
const EXPIRING = { purpose: 'product', expires_in: '3600' };
const ON_POSTGRES = Boolean(process.env.TEST_DATABASE_URL);

/** What every app of this file is configured with (besides its database). */
const APP_ENV = {
  PUBLIC_BASE_URL: PUBLIC_BASE,
  // Sweeps are driven by the tests (except in the scheduled test, which has its own app).
  UNATTACHED_IMAGE_SWEEP_CRON: 'off',
};

describe('Stand-alone uploads (POST /images), attaching and the sweep', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let ds: DataSource;
  let mediaDir: string;
  let tmpDir: string;
  let jpeg: Buffer;
  let limitPng: Buffer;
  let defaultOrgId: string;
  const c: Record<string, Credential> = {};

  /* ------------------------------------------------------------------ helpers */

  function uploadStandalone(
    file: FilePart | FilePart[] | undefined,
    fields: Record<string, string> = { purpose: 'product' },
    as: Credential | null = c.staff,
    target: NestFastifyApplication = app,
  ) {
    const files = file === undefined ? [] : Array.isArray(file) ? file : [file];
    const body = multipart(fields, files);
    return call(target, 'POST', '/api/v1/images', as ?? undefined, body.payload, {
      headers: body.headers,
    });
  }

  async function standalone(
    fields: Record<string, string> = { purpose: 'product' },
    as: Credential = c.staff,
    target: NestFastifyApplication = app,
  ): Promise<StandaloneBody> {
    const res = await uploadStandalone(
      { data: jpeg, filename: 'shot.jpg', contentType: 'image/jpeg' },
      fields,
      as,
      target,
    );
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe(`/api/v1/images/${res.json().id}`);
    return res.json();
  }

  async function newProduct(body: object = {}, as: Credential = c.staff): Promise<string> {
    const res = await call(app, 'POST', '/api/v1/products', as, { name: 'Attach target', ...body });
    expect(res.statusCode).toBe(201);
    return res.json().id;
  }

  const galleryUrl = (productId: string) => `/api/v1/products/${productId}/images`;

  /** `as: null` sends no credential. */
  function attach(productId: string, body: object, as: Credential | null = c.staff) {
    return call(app, 'POST', galleryUrl(productId), as ?? undefined, body);
  }

  async function gallery(productId: string): Promise<{ items: ImageBody[]; version: number }> {
    const res = await call(app, 'GET', `${galleryUrl(productId)}?per_page=500`, c.staff);
    expect(res.statusCode).toBe(200);
    return { items: res.json().items, version: res.json().version };
  }

  async function galleryUpload(productId: string): Promise<ImageBody> {
    const body = multipart({}, [{ data: jpeg, contentType: 'image/jpeg' }]);
    const res = await call(app, 'POST', galleryUrl(productId), c.staff, body.payload, {
      headers: body.headers,
    });
    expect(res.statusCode).toBe(201);
    return res.json();
  }

  function uuidOf(id: string): string {
    const uuid = decodeId(id);
    if (!uuid) throw new Error(`not an id: ${id}`);
    return uuid;
  }

  function storedPath(url: string, root = mediaDir): string {
    return join(root, new URL(url).pathname.replace(/^\/media\//, ''));
  }

  /** The URLs of an image as the stand-alone upload answered them: original first. */
  const urlsOf = (image: StandaloneBody) => [image.url, ...Object.values(image.renditions)];

  /** Stored files (relative to the storage root, `/`-separated, without the write area). */
  function storedFiles(root = mediaDir): string[] {
    return filesBelow(root)
      .map((f) => relative(root, f).split(sep).join('/'))
      .filter((key) => !key.startsWith('.tmp/'))
      .sort();
  }

  async function unattachedIds(): Promise<string[]> {
    const rows: { id: string }[] = await ds.query(
      'SELECT id FROM images WHERE product_id IS NULL ORDER BY id',
    );
    return rows.map((r) => r.id);
  }

  async function row(id: string): Promise<Record<string, unknown> | undefined> {
    const [found] = await ds.query('SELECT * FROM images WHERE id = $1', [uuidOf(id)]);
    return found as Record<string, unknown> | undefined;
  }

  const pendingDeletions = (source: DataSource = ds) => pendingFileDeletions(source);

  /** Files are deleted by file-deletion jobs right after the commit: waits until they are done. */
  async function deletionsDone(source: DataSource = ds): Promise<void> {
    await eventually(
      async () => (await pendingDeletions(source)).length === 0,
      'the queued file deletions to be done',
    );
  }

  /** Puts an upload's expiry `interval` in the past (or, with a negative one, the future). */
  async function expire(id: string, interval = '1 minute', source: DataSource = ds): Promise<void> {
    await source.query(`UPDATE images SET expires_at = now() - $2::interval WHERE id = $1`, [
      uuidOf(id),
      interval,
    ]);
  }

  async function backdate(id: string, interval: string, source: DataSource = ds): Promise<void> {
    await source.query(
      `UPDATE images SET created_at = now() - $2::interval, updated_at = now() - $2::interval
        WHERE id = $1`,
      [uuidOf(id), interval],
    );
  }

  async function expectNoTempFiles(): Promise<void> {
    // Temporary files go when the response has been sent (an onResponse hook).
    await eventually(() => filesBelow(tmpDir).length === 0, 'the upload spool to empty');
    expect(filesBelow(join(mediaDir, '.tmp'))).toEqual([]);
  }

  interface Leftovers {
    rows: string[];
    files: string[];
  }

  async function leftovers(): Promise<Leftovers> {
    return { rows: await unattachedIds(), files: storedFiles() };
  }

  /** A rejected upload left no row, no stored file, no queued deletion and no temporary file. */
  async function expectNothingLeft(before: Leftovers): Promise<void> {
    expect(await unattachedIds()).toEqual(before.rows);
    await deletionsDone();
    expect(storedFiles()).toEqual(before.files);
    await expectNoTempFiles();
  }

  async function createKey(body: object, admin: Credential = c.admin): Promise<Credential> {
    const res = await call(app, 'POST', '/api/v1/api-keys', admin, body);
    expect(res.statusCode).toBe(201);
    return { apiKey: res.json().key };
  }

  beforeAll(async () => {
    jpeg = await solidJpeg(40, 30);
    limitPng = await noisyPng(120, 100);
    t = await startTestApp({ ...APP_ENV, MAX_UPLOAD_BYTES: String(limitPng.length) });
    app = t.app;
    ds = app.get(DataSource);
    mediaDir = join(t.db.env.DATA_DIR, 'media');
    tmpDir = join(t.db.env.DATA_DIR, 'tmp', 'uploads');
    c.admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    c.staff = await addUser(app, c.admin, 'sasha', Role.Staff);
    c.user = await addUser(app, c.admin, 'ulla', Role.User);
    c.other = await otherOrganisationAdmin(app, 'elsewhere', 'olga');
    c.writeKey = await createKey({
      name: 'uploader',
      role: Role.Staff,
      scopes: ['images:write', 'images:read', 'products:read'],
    });
    c.readKey = await createKey({
      name: 'reader',
      role: Role.Staff,
      scopes: ['images:read', 'products:read'],
    });
    const [org] = await ds.query(`SELECT id FROM organizations WHERE slug = 'default'`);
    defaultOrgId = org.id;
  });
  afterAll(() => t?.close());

  /* ------------------------------------------------------------ POST /images */

  describe('POST /images', () => {
    it('stores a durable unattached image under uploads/<uuid>/ and answers its URLs, no expiry', async () => {
      const res = await uploadStandalone(
        { data: jpeg, filename: 'shot.jpg', contentType: 'image/jpeg' },
        { purpose: 'product' },
      );
      expect(res.statusCode).toBe(201);
      const body: StandaloneBody = res.json();
      expect(Object.keys(body).sort()).toEqual(
        [
          'alt_text',
          'created_at',
          'description',
          'expires_at',
          'format',
          'height',
          'id',
          'key',
          'original_filename',
          'purpose',
          'renditions',
          'responsive',
          'size',
          'title',
          'updated_at',
          'url',
          'width',
        ].sort(),
      );
      expect(body.id).toMatch(SHORT_ID);
      const uuid = uuidOf(body.id);
      expect(body).toMatchObject({
        purpose: 'product',
        format: 'jpeg',
        width: 40,
        height: 30,
        title: '',
        alt_text: '',
        description: '',
        original_filename: 'shot.jpg',
        expires_at: null,
      });
      expect(body.key).toBe(`uploads/${uuid}/original.jpg`);
      expect(body.url).toBe(`${PUBLIC_BASE}/media/${body.key}`);
      expect(Object.keys(body.renditions).sort()).toEqual(['card', 'large', 'thumb']);
      for (const [name, url] of Object.entries(body.renditions)) {
        expect(url).toMatch(new RegExp(`^${PUBLIC_BASE}/media/uploads/${uuid}/${name}\\.webp$`));
      }
      const created = Date.parse(body.created_at);
      expect(body.updated_at).toBe(body.created_at);

      // Every file is stored and served; the original's size is the stored size.
      for (const url of urlsOf(body)) {
        const delivered = await fetchDelivered(app, url);
        expect(delivered.status).toBe(200);
        expect(existsSync(storedPath(url))).toBe(true);
        if (url === body.url) expect(delivered.body.length).toBe(body.size);
      }
      expect(storedFiles().filter((f) => f.startsWith(`uploads/${uuid}/`))).toEqual(
        ['card.webp', 'large.webp', 'original.jpg', 'thumb.webp'].map(
          (f) => `uploads/${uuid}/${f}`,
        ),
      );

      const stored = await row(body.id);
      expect(stored).toMatchObject({
        product_id: null,
        organization_id: defaultOrgId,
        purpose: 'product',
        storage_key: body.key,
        is_primary: false,
        original_filename: 'shot.jpg',
        expires_at: null,
      });
      expect((stored!.created_at as Date).getTime()).toBe(created);
    });

    it('asks for an expiry with expires_in: exactly created_at + expires_in', async () => {
      for (const [expiresIn, seconds] of [
        ['3600', 3600],
        [' 60 ', 60],
        ['2592000', 2_592_000],
      ] as const) {
        const body = await standalone({ purpose: 'product', expires_in: expiresIn });
        expect(Date.parse(body.expires_at!) - Date.parse(body.created_at)).toBe(seconds * 1000);
        const stored = await row(body.id);
        expect((stored!.expires_at as Date).toISOString()).toBe(body.expires_at);
      }
      // Any purpose may ask for one (only product images can be attached before it).
      const account = await standalone({ purpose: 'account', expires_in: '600' });
      expect(account.expires_at).not.toBeNull();
    });

    it('caches the /media files of an expiring upload no longer than its expiry, not a year', async () => {
      // Past expires_at the sweep deletes them: a cache holding them immutable would not ask again.
      const maxAge = (res: { headers: Record<string, unknown> }) =>
        Number(/^public, max-age=(\d+)$/.exec(String(res.headers['cache-control']))?.[1]);
      const expiring = await standalone(EXPIRING);
      for (const url of urlsOf(expiring)) {
        const path = new URL(url).pathname;
        const full = await app.inject({ method: 'GET', url: path });
        const etag = String(full.headers.etag);
        const answers = [
          full,
          await app.inject({ method: 'HEAD', url: path }),
          await app.inject({ method: 'GET', url: path, headers: { range: 'bytes=0-9' } }),
          await app.inject({ method: 'GET', url: path, headers: { 'if-none-match': etag } }),
        ];
        expect(answers.map((res) => res.statusCode)).toEqual([200, 200, 206, 304]);
        for (const res of answers) {
          expect({ url, maxAge: maxAge(res) }).toEqual({ url, maxAge: expect.any(Number) });
          expect(maxAge(res)).toBeGreaterThan(3500);
          expect(maxAge(res)).toBeLessThanOrEqual(3600);
        }
      }
      // Kept until deleted: a year, immutable, as every stored file.
      const durable = await standalone({ purpose: 'product' });
      const res = await app.inject({ method: 'GET', url: new URL(durable.url).pathname });
      expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    });

    it('stores title, alt text and description given with the upload', async () => {
      const body = await standalone({
        purpose: 'category',
        title: 'Shoes',
        alt_text: 'A pair of running shoes',
        description: 'x'.repeat(5000),
      });
      expect(body).toMatchObject({
        purpose: 'category',
        title: 'Shoes',
        alt_text: 'A pair of running shoes',
        description: 'x'.repeat(5000),
        expires_at: null,
      });
      expect(await row(body.id)).toMatchObject({
        title: 'Shoes',
        alt_text: 'A pair of running shoes',
        description: 'x'.repeat(5000),
      });
    });

    it('says "is required" of a missing purpose, and names expires_in\'s range', async () => {
      const file = { data: jpeg, contentType: 'image/jpeg' };
      const missing = await uploadStandalone(file, { title: 'No purpose' });
      expect(missing.statusCode).toBe(400);
      expect(missing.json().errors).toEqual([{ field: 'purpose', message: 'is required' }]);
      const both = await uploadStandalone(undefined, {});
      expect(both.json().errors).toEqual([
        { field: 'image', message: 'is required' },
        { field: 'purpose', message: 'is required' },
      ]);
      const fraction = await uploadStandalone(file, { purpose: 'product', expires_in: '90.5' });
      expect(fraction.json().errors).toEqual([
        {
          field: 'expires_in',
          message: 'expires_in must be an integer from 60 to 2592000 (seconds)',
        },
      ]);
    });

    it.each(['product', 'account', 'user', 'category'])('accepts purpose %s', async (purpose) => {
      const body = await standalone({ purpose });
      expect(body.purpose).toBe(purpose);
      expect(await row(body.id)).toMatchObject({ purpose, product_id: null });
    });

    it('accepts admins and API keys with images:write (in their organisation)', async () => {
      const byAdmin = await standalone({ purpose: 'product' }, c.admin);
      expect(await row(byAdmin.id)).toMatchObject({ organization_id: defaultOrgId });
      const byKey = await standalone({ purpose: 'category' }, c.writeKey);
      expect(await row(byKey.id)).toMatchObject({
        organization_id: defaultOrgId,
        purpose: 'category',
      });
      const byOther = await standalone({ purpose: 'product' }, c.other);
      const [otherOrg] = await ds.query(`SELECT id FROM organizations WHERE slug = 'elsewhere'`);
      expect(await row(byOther.id)).toMatchObject({ organization_id: otherOrg.id });
    });

    it('checks the type from the bytes: an SVG is sanitised, a BMP stored as PNG', async () => {
      const svg = await uploadStandalone(
        { data: safeSvg(), filename: 'logo.png', contentType: 'image/png' },
        { purpose: 'account' },
      );
      expect(svg.statusCode).toBe(201);
      expect(svg.json()).toMatchObject({ format: 'svg', purpose: 'account' });
      expect(svg.json().key).toMatch(new RegExp(`^uploads/${UUID}/original\\.svg$`));
      const png = await uploadStandalone({ data: bmp(), contentType: 'image/bmp' });
      expect(png.statusCode).toBe(201);
      expect(png.json()).toMatchObject({ format: 'png', width: 64, height: 48 });
      expect(png.json().key).toMatch(new RegExp(`^uploads/${UUID}/original\\.png$`));
    });

    describe('rejected uploads leave nothing behind', () => {
      const files: [string, () => Promise<FilePart | FilePart[] | undefined>, number, string][] = [
        [
          'HTML named .png',
          async () => ({ data: htmlBytes(), filename: 'x.png', contentType: 'image/png' }),
          400,
          'unsupported_image_type',
        ],
        [
          'an SVG with a script',
          async () => ({ data: svgWithScript(), contentType: 'image/svg+xml' }),
          400,
          'unsafe_svg',
        ],
        [
          'a truncated JPEG',
          async () => ({ data: await truncatedJpeg(), contentType: 'image/jpeg' }),
          400,
          'invalid_image',
        ],
        [
          'a zero-byte file',
          async () => ({ data: Buffer.alloc(0), contentType: 'image/png' }),
          400,
          'image_required',
        ],
        [
          'a file one byte over the limit',
          async () => ({ data: Buffer.concat([limitPng, Buffer.from([0])]) }),
          413,
          'file_too_large',
        ],
        [
          'two files',
          async () => [
            { data: jpeg, contentType: 'image/jpeg' },
            { data: jpeg, contentType: 'image/jpeg' },
          ],
          400,
          'too_many_files',
        ],
      ];

      it.each(files)('%s', async (_name, make, status, code) => {
        const before = await leftovers();
        const res = await uploadStandalone(await make(), { purpose: 'product' });
        expect(res.statusCode).toBe(status);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.json().code).toBe(code);
        await expectNothingLeft(before);
      });

      it('accepts a file of exactly MAX_UPLOAD_BYTES', async () => {
        const res = await uploadStandalone({ data: limitPng, contentType: 'image/png' });
        expect(res.statusCode).toBe(201);
      });

      const fieldCases: [string, boolean, Record<string, string>, string, string[]][] = [
        ['neither image nor purpose', false, {}, 'validation_failed', ['image', 'purpose']],
        ['no image', false, { purpose: 'product' }, 'image_required', ['image']],
        ['no purpose', true, {}, 'validation_failed', ['purpose']],
        ['an unknown purpose', true, { purpose: 'banner' }, 'validation_failed', ['purpose']],
        [
          'an unknown purpose and no image',
          false,
          { purpose: 'banner' },
          'validation_failed',
          ['image', 'purpose'],
        ],
        [
          'a gallery field',
          true,
          { purpose: 'product', is_primary: 'true' },
          'validation_failed',
          ['is_primary'],
        ],
        [
          'a title too long',
          true,
          { purpose: 'user', title: 'x'.repeat(256) },
          'validation_failed',
          ['title'],
        ],
        [
          'a description too long',
          true,
          { purpose: 'user', description: 'x'.repeat(5001) },
          'validation_failed',
          ['description'],
        ],
        [
          'expires_in of 59 s',
          true,
          { purpose: 'product', expires_in: '59' },
          'validation_failed',
          ['expires_in'],
        ],
        [
          'expires_in over 30 days',
          true,
          { purpose: 'product', expires_in: '2592001' },
          'validation_failed',
          ['expires_in'],
        ],
        [
          'expires_in of 1.5 h',
          true,
          { purpose: 'product', expires_in: '5400.5' },
          'validation_failed',
          ['expires_in'],
        ],
        [
          'expires_in as a duration',
          true,
          { purpose: 'product', expires_in: '1h' },
          'validation_failed',
          ['expires_in'],
        ],
      ];

      it.each(fieldCases)('names the fields: %s', async (_name, withFile, fields, code, named) => {
        const before = await leftovers();
        const file = withFile ? { data: jpeg, contentType: 'image/jpeg' } : undefined;
        const res = await uploadStandalone(file, fields);
        expect(res.statusCode).toBe(400);
        expect(res.json().code).toBe(code);
        const reported = res.json().errors.map((e: { field: string }) => e.field);
        expect([...new Set(reported)].sort()).toEqual(named);
        await expectNothingLeft(before);
      });

      it('refuses a JSON body with 415', async () => {
        const before = await leftovers();
        const res = await call(app, 'POST', '/api/v1/images', c.staff, { purpose: 'product' });
        expect(res.statusCode).toBe(415);
        expect(res.json().code).toBe('unsupported_media_type');
        await expectNothingLeft(before);
      });

      it('answers 401 without credentials, 403 to a user and to a key without images:write', async () => {
        const before = await leftovers();
        const file = { data: jpeg, contentType: 'image/jpeg' };
        const anonymous = await uploadStandalone(file, { purpose: 'product' }, null);
        expect(anonymous.statusCode).toBe(401);
        expect(anonymous.headers['www-authenticate']).toBeDefined();
        const user = await uploadStandalone(file, { purpose: 'product' }, c.user);
        expect(user.statusCode).toBe(403);
        const readKey = await uploadStandalone(file, { purpose: 'product' }, c.readKey);
        expect(readKey.statusCode).toBe(403);
        await expectNothingLeft(before);
      });

      it('answers 502 when the storage fails, leaving no row and no file', async () => {
        const uploads = join(mediaDir, 'uploads');
        const moved = join(mediaDir, 'uploads.moved');
        // A file where the uploads directory should be: every write below it fails, for real.
        if (existsSync(uploads)) renameSync(uploads, moved);
        writeFileSync(uploads, 'not a directory');
        try {
          const before = await leftovers();
          const res = await uploadStandalone({ data: jpeg, contentType: 'image/jpeg' });
          expect(res.statusCode).toBe(502);
          expect(res.json().code).toBe('storage_unavailable');
          await expectNothingLeft(before);
        } finally {
          rmSync(uploads, { force: true });
          if (existsSync(moved)) renameSync(moved, uploads);
        }
      });

      it('deletes the stored files when the database insert fails', async () => {
        await ds.query(`CREATE FUNCTION refuse_standalone() RETURNS trigger AS $$
          BEGIN RAISE EXCEPTION 'refused by test trigger'; END $$ LANGUAGE plpgsql`);
        await ds.query(`CREATE TRIGGER refuse_standalone BEFORE INSERT ON images FOR EACH ROW
          WHEN (NEW.original_filename = 'refuse-me.jpg') EXECUTE FUNCTION refuse_standalone()`);
        try {
          const before = await leftovers();
          const res = await uploadStandalone({
            data: jpeg,
            filename: 'refuse-me.jpg',
            contentType: 'image/jpeg',
          });
          expect(res.statusCode).toBe(500);
          await expectNothingLeft(before);
        } finally {
          await ds.query('DROP TRIGGER refuse_standalone ON images');
          await ds.query('DROP FUNCTION refuse_standalone()');
        }
      });
    });
  });

  /* ------------------------------------------------- the organisation's assets */

  describe('assets: GET, PATCH and DELETE /images', () => {
    /** An organisation of its own, so that its list holds only what these tests put there. */
    const a: Record<string, Credential> = {};

    const assetUrl = (id: string) => `/api/v1/images/${id}`;

    async function listAll(query: string, as: Credential = a.admin): Promise<StandaloneBody[]> {
      const items: StandaloneBody[] = [];
      let cursor: string | null = null;
      for (let pages = 0; pages < 50; pages++) {
        const sep = query ? '&' : '';
        const url = `/api/v1/images?${query}${cursor ? `${sep}cursor=${cursor}` : ''}`;
        const res = await call(app, 'GET', url, as);
        expect(res.statusCode).toBe(200);
        expect(Object.keys(res.json()).sort()).toEqual(['items', 'next_cursor']);
        items.push(...res.json().items);
        cursor = res.json().next_cursor;
        if (cursor === null) return items;
      }
      throw new Error('more than 50 pages');
    }

    /** Newest first, ties by id (as the database orders UUIDs). */
    const newestFirst = (images: StandaloneBody[]) =>
      [...images].sort(
        (x, y) =>
          Date.parse(y.created_at) - Date.parse(x.created_at) ||
          (uuidOf(y.id) < uuidOf(x.id) ? -1 : 1),
      );

    let listed: StandaloneBody[];
    let hidden: { attached: StandaloneBody; expired: StandaloneBody };

    beforeAll(async () => {
      a.admin = await otherOrganisationAdmin(app, 'assets', 'ada');
      a.staff = await addUser(app, a.admin, 'asta', Role.Staff);
      a.user = await addUser(app, a.admin, 'aurel', Role.User);
      const key = (name: string, scopes: string[]) =>
        createKey({ name, role: Role.Staff, scopes }, a.admin);
      a.writeKey = await key('asset writer', ['images:write', 'images:read']);
      a.readKey = await key('asset reader', ['images:read']);
      a.productsKey = await key('products only', ['products:read', 'products:write']);
      listed = [];
      for (const purpose of ['product', 'account', 'user', 'product', 'category', 'account']) {
        listed.push(await standalone({ purpose, title: `A ${purpose}` }, a.staff));
      }
      listed.push(await standalone({ ...EXPIRING, title: 'Expiring later' }, a.staff));
      const attached = await standalone({ purpose: 'product' }, a.staff);
      const productRes = await call(app, 'POST', '/api/v1/products', a.staff, { name: 'Held' });
      const held = await call(app, 'POST', `${galleryUrl(productRes.json().id)}/attach`, a.staff, {
        image_id: attached.id,
      });
      expect(held.statusCode).toBe(201);
      const expired = await standalone(EXPIRING, a.staff);
      await expire(expired.id);
      hidden = { attached, expired };
    });

    it('lists the stand-alone images newest first, a page at a time, without gallery or expired ones', async () => {
      const expected = newestFirst(listed);
      for (const limit of [1, 2, 3, 100]) {
        expect(await listAll(`limit=${limit}`)).toEqual(expected);
      }
      // The default page holds them all here (20), with no next page.
      const res = await call(app, 'GET', '/api/v1/images', a.user);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ items: expected, next_cursor: null });
      const ids = expected.map((i) => i.id);
      expect(ids).not.toContain(hidden.attached.id);
      expect(ids).not.toContain(hidden.expired.id);
      // Each item is the image as GET /images/{id} answers it.
      for (const item of expected) {
        const one = await call(app, 'GET', assetUrl(item.id), a.user);
        expect(one.statusCode).toBe(200);
        expect(one.json()).toEqual(item);
      }
    });

    it('lists no image attached (or expired) between reading the page and reading its rows', async () => {
      const moved = await standalone({ purpose: 'product' }, a.staff);
      let listedFirst: string[] = [];
      const repository = app.get(StandaloneImagesRepository);
      const listIds = repository.listIds.bind(repository);
      // The attach commits between the page's two reads: its ids, then their rows.
      const spy = jest.spyOn(repository, 'listIds').mockImplementationOnce(async (ctx, query) => {
        const ids = await listIds(ctx, query);
        listedFirst = ids.map((row) => encodeShortId(row.id));
        const product = await newProduct({ name: 'Taken meanwhile' }, a.staff);
        expect((await attach(product, { image_id: moved.id }, a.staff)).statusCode).toBe(201);
        return ids;
      });
      try {
        const res = await call(app, 'GET', '/api/v1/images?purpose=product', a.user);
        expect(res.statusCode).toBe(200);
        expect(res.json<{ items: StandaloneBody[] }>().items.map((i) => i.id)).not.toContain(
          moved.id,
        );
        expect((await call(app, 'GET', assetUrl(moved.id), a.user)).statusCode).toBe(404);
        expect(listedFirst).toContain(moved.id);
      } finally {
        spy.mockRestore();
      }
    });

    it('filters by purpose', async () => {
      for (const purpose of ['product', 'account', 'user', 'category']) {
        const expected = newestFirst(listed.filter((i) => i.purpose === purpose));
        expect(await listAll(`purpose=${purpose}&limit=1`)).toEqual(expected);
        expect(await listAll(`purpose=${purpose}`)).toEqual(expected);
      }
    });

    it('finds an image by the exact key its upload answered, and nothing by any other', async () => {
      const [wanted] = listed;
      expect(await listAll(`key=${encodeURIComponent(wanted.key)}`)).toEqual([wanted]);
      expect(await listAll(`key=${encodeURIComponent(wanted.key)}&purpose=product`)).toEqual([
        wanted,
      ]);
      const theirs = await standalone({ purpose: 'product' }, c.other);
      for (const key of [
        wanted.key.toUpperCase(),
        wanted.key.replace('original', 'thumb').replace(/\.jpg$/, '.webp'),
        `${wanted.key}x`,
        `uploads/${randomUUID()}/original.jpg`,
        'not/a/key',
        hidden.attached.key,
        hidden.expired.key,
        theirs.key,
      ]) {
        expect(await listAll(`key=${encodeURIComponent(key)}`)).toEqual([]);
      }
      expect(await listAll(`key=${encodeURIComponent(wanted.key)}&purpose=user`)).toEqual([]);
      // The other organisation finds its own.
      expect(await listAll(`key=${encodeURIComponent(theirs.key)}`, c.other)).toEqual([theirs]);
    });

    it.each<[string, string, string, string]>([
      ['an unknown purpose', 'purpose=banner', 'validation_failed', 'purpose'],
      ['a fractional limit', 'limit=1.5', 'validation_failed', 'limit'],
      ['a key too long', `key=${'k'.repeat(513)}`, 'validation_failed', 'key'],
      ['an unknown parameter', 'sort=oldest', 'validation_failed', 'sort'],
      ['a forged cursor', 'cursor=bm90LWEtY3Vyc29y', 'invalid_cursor', 'cursor'],
    ])('refuses %s with 400', async (_name, query, code, field) => {
      const res = await call(app, 'GET', `/api/v1/images?${query}`, a.user);
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe(code);
      expect(res.json().errors.map((e: { field: string }) => e.field)).toEqual([field]);
    });

    it('says what a fractional limit must be', async () => {
      const res = await call(app, 'GET', '/api/v1/images?limit=2.5', a.user);
      expect(res.json().errors).toEqual([
        { field: 'limit', message: 'limit must be an integer from 1 to 100' },
      ]);
    });

    it('reads one by id or UUID; 404 for a gallery image, an expired, unknown or foreign one', async () => {
      const [image] = listed;
      const byUuid = await call(app, 'GET', assetUrl(uuidOf(image.id)), a.user);
      expect(byUuid.statusCode).toBe(200);
      expect(byUuid.json()).toEqual(image);
      const theirs = await standalone({ purpose: 'product' }, c.other);
      for (const [id, as] of [
        [hidden.attached.id, a.admin],
        [hidden.expired.id, a.admin],
        [randomUUID(), a.admin],
        [theirs.id, a.admin],
        [image.id, c.other],
      ] as const) {
        const res = await call(app, 'GET', assetUrl(id), as);
        expect(res.statusCode).toBe(404);
        expect(res.json().code).toBe('image_not_found');
      }
      const malformed = await call(app, 'GET', assetUrl('not-an-id'), a.user);
      expect(malformed.statusCode).toBe(400);
      expect(malformed.json().code).toBe('invalid_id');
    });

    it('answers 304 to If-None-Match naming its ETag, which every change it shows moves', async () => {
      const image = await standalone({ purpose: 'user', title: 'Tagged' }, a.staff);
      const read = (ifNoneMatch?: string) =>
        call(app, 'GET', assetUrl(image.id), a.user, undefined, {
          headers: ifNoneMatch === undefined ? {} : { 'if-none-match': ifNoneMatch },
        });
      const first = await read();
      expect(first.statusCode).toBe(200);
      const etag = first.headers.etag as string;
      expect(etag).toMatch(/^W\/"[A-Za-z0-9_-]{22}"$/);
      for (const ifNoneMatch of [etag, etag.slice(2), `"other", ${etag}`, '*']) {
        const res = await read(ifNoneMatch);
        expect({ ifNoneMatch, status: res.statusCode, body: res.body }).toEqual({
          ifNoneMatch,
          status: 304,
          body: '',
        });
        expect(res.headers.etag).toBe(etag);
        expect(res.headers['cache-control']).toBe('no-store');
      }
      expect((await read('"other"')).json()).toEqual(first.json());
      const patched = await call(app, 'PATCH', assetUrl(image.id), a.staff, { alt_text: 'Now' });
      expect(patched.statusCode).toBe(200);
      const after = await read(etag);
      expect(after.statusCode).toBe(200);
      expect(after.json()).toMatchObject({ alt_text: 'Now' });
      expect(after.headers.etag).not.toBe(etag);
      const unknown = await call(app, 'GET', assetUrl(randomUUID()), a.user, undefined, {
        headers: { 'if-none-match': '*' },
      });
      expect(unknown.statusCode).toBe(404);
    });

    it('patches title, alt text and description, leaving what is left out', async () => {
      const image = await standalone(
        { purpose: 'user', title: 'Old', alt_text: 'Old alt', description: 'Old text' },
        a.staff,
      );
      const res = await call(app, 'PATCH', assetUrl(image.id), a.staff, {
        title: 'New',
        description: 'New text',
      });
      expect(res.statusCode).toBe(200);
      const patched: StandaloneBody = res.json();
      expect(patched).toEqual({
        ...image,
        title: 'New',
        alt_text: 'Old alt',
        description: 'New text',
        updated_at: patched.updated_at,
      });
      expect(Date.parse(patched.updated_at)).toBeGreaterThanOrEqual(Date.parse(image.updated_at));
      expect((await call(app, 'GET', assetUrl(image.id), a.user)).json()).toEqual(patched);
      expect(await row(image.id)).toMatchObject({
        title: 'New',
        alt_text: 'Old alt',
        description: 'New text',
        product_id: null,
      });
      const byKey = await call(app, 'PATCH', assetUrl(image.id), a.writeKey, { alt_text: '' });
      expect(byKey.statusCode).toBe(200);
      expect(byKey.json()).toMatchObject({ title: 'New', alt_text: '', description: 'New text' });
      // An empty body changes nothing.
      const empty = await call(app, 'PATCH', assetUrl(image.id), a.admin, {});
      expect(empty.statusCode).toBe(200);
      expect(empty.json()).toMatchObject({ title: 'New', alt_text: '' });
    });

    it.each<[string, object, string]>([
      ['a title too long', { title: 'x'.repeat(256) }, 'title'],
      ['an alt text too long', { alt_text: 'x'.repeat(1001) }, 'alt_text'],
      ['a description too long', { description: 'x'.repeat(5001) }, 'description'],
      ['a null title', { title: null }, 'title'],
      ['a numeric description', { description: 5 }, 'description'],
      ['a purpose', { purpose: 'account' }, 'purpose'],
      ['an expiry', { expires_at: null }, 'expires_at'],
    ])('refuses a patch with %s, changing nothing', async (_name, body, field) => {
      const image = listed[1];
      const res = await call(app, 'PATCH', assetUrl(image.id), a.staff, body);
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('validation_failed');
      expect([...new Set(res.json().errors.map((e: { field: string }) => e.field))]).toEqual([
        field,
      ]);
      expect((await call(app, 'GET', assetUrl(image.id), a.user)).json()).toEqual(image);
    });

    it('deletes an image: 204, the row and every file gone', async () => {
      const image = await standalone({ purpose: 'account' }, a.staff);
      for (const url of urlsOf(image)) expect(existsSync(storedPath(url))).toBe(true);
      const res = await call(app, 'DELETE', assetUrl(image.id), a.staff);
      expect(res.statusCode).toBe(204);
      expect(res.body).toBe('');
      expect(await row(image.id)).toBeUndefined();
      await deletionsDone();
      for (const url of urlsOf(image)) {
        expect(existsSync(storedPath(url))).toBe(false);
        expect((await fetchDelivered(app, url)).status).toBe(404);
      }
      expect(filesBelow(join(mediaDir, 'uploads', uuidOf(image.id)))).toEqual([]);
      for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
        const again = await call(
          app,
          method,
          assetUrl(image.id),
          a.staff,
          method === 'PATCH' ? {} : undefined,
        );
        expect(again.statusCode).toBe(404);
        expect(again.json().code).toBe('image_not_found');
      }
      expect(await listAll(`key=${encodeURIComponent(image.key)}`)).toEqual([]);
    });

    it('answers 404, not 500, to a transform URL of an image deleted while its original is read', async () => {
      const image = await standalone({ purpose: 'product' }, a.staff);
      const responsive = (image as unknown as { responsive: Record<string, { src: string }> })
        .responsive;
      const src = Object.values(responsive)[0].src;
      const storage = app.get<StorageProvider>(STORAGE_PROVIDER);
      const read = storage.read!.bind(storage);
      let deleting: Promise<{ statusCode: number }> | undefined;
      // The deletion lands once the original is found, before its bytes are read: the file
      // removed (as the deletion job removes it) and the row deleted.
      storage.read = async (key: string) => {
        const object = await read(key);
        if (key === image.key && !deleting) {
          unlinkSync(storedPath(image.url));
          deleting = call(app, 'DELETE', assetUrl(image.id), a.staff);
          await deleting;
        }
        return object;
      };
      try {
        const res = await fetchDelivered(app, src);
        expect((await deleting)?.statusCode).toBe(204);
        // The read, begun, finishes; the result made of it is not kept for a deleted image.
        expect(res.status).toBe(404);
        expect(res.body.toString()).toContain('image_not_found');
      } finally {
        storage.read = read;
      }
    });

    it('deletes with an API key, and an upload that asked for an expiry', async () => {
      const image = await standalone(EXPIRING, a.staff);
      const res = await call(app, 'DELETE', assetUrl(uuidOf(image.id)), a.writeKey);
      expect(res.statusCode).toBe(204);
      expect(await row(image.id)).toBeUndefined();
      await deletionsDone();
      for (const url of urlsOf(image)) expect(existsSync(storedPath(url))).toBe(false);
    });

    it("answers 404 to PATCH and DELETE of a gallery image or another organisation's, touching neither", async () => {
      const theirs = await standalone({ purpose: 'user' }, c.other);
      const filesBefore = storedFiles();
      for (const [id, as] of [
        [hidden.attached.id, a.admin],
        [hidden.expired.id, a.admin],
        [theirs.id, a.admin],
        [listed[0].id, c.other],
      ] as const) {
        for (const method of ['PATCH', 'DELETE'] as const) {
          const res = await call(
            app,
            method,
            assetUrl(id),
            as,
            method === 'PATCH' ? { title: 'Mine' } : undefined,
          );
          expect(res.statusCode).toBe(404);
          expect(res.json().code).toBe('image_not_found');
        }
      }
      expect(storedFiles()).toEqual(filesBefore);
      expect(await row(hidden.attached.id)).toMatchObject({
        title: '',
        product_id: expect.any(String),
      });
      expect(await row(theirs.id)).toMatchObject({ title: '', product_id: null });
      expect(await row(listed[0].id)).toMatchObject({ title: 'A product' });
    });

    it('lets readers read, and only staff, admins and images:write keys change', async () => {
      const image = listed[2];
      expect((await call(app, 'GET', '/api/v1/images', a.readKey)).statusCode).toBe(200);
      expect((await call(app, 'GET', assetUrl(image.id), a.readKey)).statusCode).toBe(200);
      const noScope = await call(app, 'GET', '/api/v1/images', a.productsKey);
      expect(noScope.statusCode).toBe(403);
      expect(noScope.json().code).toBe('insufficient_scope');
      for (const as of [a.user, a.readKey]) {
        const patch = await call(app, 'PATCH', assetUrl(image.id), as, { title: 'x' });
        expect(patch.statusCode).toBe(403);
        const del = await call(app, 'DELETE', assetUrl(image.id), as);
        expect(del.statusCode).toBe(403);
      }
      for (const [method, url] of [
        ['GET', '/api/v1/images'],
        ['GET', assetUrl(image.id)],
        ['PATCH', assetUrl(image.id)],
        ['DELETE', assetUrl(image.id)],
      ] as const) {
        const res = await call(
          app,
          method,
          url,
          undefined,
          method === 'PATCH' ? { title: 'x' } : undefined,
        );
        expect(res.statusCode).toBe(401);
      }
      expect((await call(app, 'GET', assetUrl(image.id), a.user)).json()).toEqual(image);
    });

    it('lets exactly one of an attach and a delete of the same image win', async () => {
      for (let round = 0; round < 3; round++) {
        const image = await standalone({ purpose: 'product' }, a.staff);
        const product = (
          await call(app, 'POST', '/api/v1/products', a.staff, { name: `Race ${round}` })
        ).json().id;
        const [attached, deleted] = await Promise.all([
          call(app, 'POST', `${galleryUrl(product)}/attach`, a.staff, { image_id: image.id }),
          call(app, 'DELETE', assetUrl(image.id), a.staff),
        ]);
        const outcome = [attached.statusCode, deleted.statusCode];
        expect([
          [201, 404],
          [404, 204],
        ]).toContainEqual(outcome);
        await deletionsDone();
        if (attached.statusCode === 201) {
          expect(await row(image.id)).toMatchObject({ product_id: uuidOf(product) });
          for (const url of urlsOf(image)) expect(existsSync(storedPath(url))).toBe(true);
        } else {
          expect(await row(image.id)).toBeUndefined();
          for (const url of urlsOf(image)) expect(existsSync(storedPath(url))).toBe(false);
          const items = (await call(app, 'GET', galleryUrl(product), a.staff)).json().items;
          expect(items).toEqual([]);
        }
      }
    });
  });

  /* ---------------------------------------------------------------- attaching */

  describe('attaching (JSON POST /products/:id/images)', () => {
    it('adds the image to the gallery with its files unchanged, its text applied, its expiry cleared', async () => {
      const p = await newProduct();
      const image = await standalone({ ...EXPIRING, description: 'Uploaded text' });
      expect(image.expires_at).not.toBeNull();
      expect(await row(image.id)).toMatchObject({ expires_at: new Date(image.expires_at!) });
      const before = await Promise.all(urlsOf(image).map((u) => fetchDelivered(app, u)));
      const { version } = await gallery(p);

      const res = await attach(p, {
        image_id: image.id,
        title: 'Side view',
        alt_text: 'The left side of the box',
        description: 'Shot on the shop counter.',
      });
      expect(res.statusCode).toBe(201);
      const attached: ImageBody = res.json();
      expect(attached).toMatchObject({
        id: image.id,
        product_id: p,
        purpose: 'product',
        title: 'Side view',
        alt_text: 'The left side of the box',
        description: 'Shot on the shop counter.',
        is_primary: true, // the gallery's first image
        priority: 0,
        format: image.format,
        width: image.width,
        height: image.height,
        size: image.size,
        original_filename: 'shot.jpg',
        url: image.url,
      });
      expect(
        Object.fromEntries(Object.entries(attached.renditions).map(([n, r]) => [n, r.url])),
      ).toEqual(image.renditions);

      const after = await gallery(p);
      expect(after.items.map((i) => i.id)).toEqual([image.id]);
      expect(after.version).toBeGreaterThan(version);
      const one = await call(app, 'GET', `${galleryUrl(p)}/${image.id}`, c.staff);
      expect(one.statusCode).toBe(200);
      expect(one.json()).toEqual(attached);
      const product = (await call(app, 'GET', `/api/v1/products/${p}`, c.staff)).json();
      expect(product.image_count).toBe(1);
      expect(product.primary_image.id).toBe(image.id);

      // Same files, same bytes, still served.
      for (const [i, url] of urlsOf(image).entries()) {
        const delivered = await fetchDelivered(app, url);
        expect(delivered.status).toBe(200);
        expect(delivered.body.equals(before[i].body)).toBe(true);
      }
      expect(await row(image.id)).toMatchObject({
        product_id: uuidOf(p),
        storage_key: image.key,
        expires_at: null,
        description: 'Shot on the shop counter.',
      });
      // Attached, it is the gallery's: no longer a stand-alone asset, and never swept.
      const asAsset = await call(app, 'GET', `/api/v1/images/${image.id}`, c.staff);
      expect(asAsset.statusCode).toBe(404);
      expect(asAsset.json().code).toBe('image_not_found');
      await backdate(image.id, '60 days');
      await app.get(UnattachedImageSweeper).sweep();
      expect(await row(image.id)).toMatchObject({ product_id: uuidOf(p) });
    });

    it('keeps the text given at upload when the attach gives none', async () => {
      const p = await newProduct();
      const image = await standalone({
        purpose: 'product',
        title: 'Lid',
        alt_text: 'The lid, open',
        description: 'Hinged lid.',
      });
      const res = await attach(p, { image_id: image.id, title: 'Open lid' });
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({
        title: 'Open lid',
        alt_text: 'The lid, open',
        description: 'Hinged lid.',
      });
    });

    it('places it after the last image by default; is_primary demotes the primary; priority is kept', async () => {
      const p = await newProduct();
      const first = await galleryUpload(p);
      const second = await attach(p, { image_id: (await standalone()).id });
      expect(second.statusCode).toBe(201);
      expect(second.json()).toMatchObject({ is_primary: false, priority: 1 });

      const third = await attach(p, { image_id: (await standalone()).id, is_primary: true });
      expect(third.statusCode).toBe(201);
      expect(third.json()).toMatchObject({ is_primary: true, priority: 2 });

      const fourth = await attach(p, { image_id: (await standalone()).id, priority: 7 });
      expect(fourth.statusCode).toBe(201);
      expect(fourth.json()).toMatchObject({ is_primary: false, priority: 7 });

      const { items, version } = await gallery(p);
      expect(items.map((i) => i.id)).toEqual([
        third.json().id,
        first.id,
        second.json().id,
        fourth.json().id,
      ]);
      expect(items.filter((i) => i.is_primary)).toHaveLength(1);
      // The version the last change answered, none since.
      expect(`"${version}"`).toBe(fourth.headers.etag);
    });

    it('works by GTIN and with the image id as a UUID', async () => {
      const gtin = '5901234123457';
      const p = await newProduct({ gtin });
      const image = await standalone();
      const res = await call(app, 'POST', `/api/v1/products/by-gtin/${gtin}/images`, c.staff, {
        image_id: uuidOf(image.id),
      });
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({ id: image.id, product_id: p, is_primary: true });
      expect((await gallery(p)).items.map((i) => i.id)).toEqual([image.id]);
    });

    it('is the same on the documented attach route, by id and by GTIN', async () => {
      const gtin = '4006381333931';
      const p = await newProduct({ gtin });
      const first = await standalone();
      const second = await standalone();
      const byId = await call(app, 'POST', `${galleryUrl(p)}/attach`, c.staff, {
        image_id: first.id,
        title: 'First',
      });
      expect(byId.statusCode).toBe(201);
      expect(byId.json()).toMatchObject({ id: first.id, product_id: p, title: 'First' });
      // Where the attached image is read now: in the gallery, not under …/attach.
      expect(byId.headers.location).toBe(`${galleryUrl(p)}/${first.id}`);
      const byGtin = await call(
        app,
        'POST',
        `/api/v1/products/by-gtin/${gtin}/images/attach`,
        c.staff,
        {
          image_id: second.id,
          is_primary: true,
        },
      );
      expect(byGtin.statusCode).toBe(201);
      expect((await gallery(p)).items.map((i) => i.id)).toEqual([second.id, first.id]);
      const again = await call(app, 'POST', `${galleryUrl(p)}/attach`, c.staff, {
        image_id: first.id,
      });
      expect(again.statusCode).toBe(409);
      expect(again.json().code).toBe('image_already_attached');
    });

    describe('refusals change nothing', () => {
      let p: string;
      let version: number;

      beforeAll(async () => {
        p = await newProduct();
        version = (await gallery(p)).version;
      });

      /** The refused attach left the gallery as it was and the image (if any) unattached. */
      async function expectUnchanged(imageId?: string): Promise<void> {
        const now = await gallery(p);
        expect(now.items).toEqual([]);
        expect(now.version).toBe(version);
        if (imageId) expect(await row(imageId)).toMatchObject({ product_id: null });
      }

      it.each([['nope'], ['0123456789'], ['IIIIIIIIIIIIIIIIIIIIII'], ['zzzzzzzzzzzzzzzzzzzzzz']])(
        'answers 400 invalid_id for image_id %j',
        async (imageId) => {
          const res = await attach(p, { image_id: imageId });
          expect(res.statusCode).toBe(400);
          expect(res.json().code).toBe('invalid_id');
          expect(res.json().errors).toEqual([expect.objectContaining({ field: 'image_id' })]);
          await expectUnchanged();
        },
      );

      it.each<[string, (id: string) => object, string[]]>([
        ['no image_id', () => ({}), ['image_id']],
        ['a number as image_id', () => ({ image_id: 42 }), ['image_id']],
        ['an extra property', (id) => ({ image_id: id, colour: 'red' }), ['colour']],
        ['a null title', (id) => ({ image_id: id, title: null }), ['title']],
        ['a negative priority', (id) => ({ image_id: id, priority: -1 }), ['priority']],
        ['a string is_primary', (id) => ({ image_id: id, is_primary: 'yes' }), ['is_primary']],
      ])('answers 400 validation_failed for %s', async (_name, body, fields) => {
        const image = await standalone();
        const res = await attach(p, body(image.id));
        expect(res.statusCode).toBe(400);
        expect(res.json().code).toBe('validation_failed');
        const named = res.json().errors.map((e: { field: string }) => e.field);
        expect([...new Set(named)]).toEqual(fields);
        await expectUnchanged(image.id);
      });

      it('answers 404 image_not_found for an unknown id', async () => {
        const res = await attach(p, { image_id: randomUUID() });
        expect(res.statusCode).toBe(404);
        expect(res.json().code).toBe('image_not_found');
        await expectUnchanged();
      });

      it("answers 404 image_not_found for another organisation's image, both ways", async () => {
        const theirs = await standalone({ purpose: 'product' }, c.other);
        const res = await attach(p, { image_id: theirs.id });
        expect(res.statusCode).toBe(404);
        expect(res.json().code).toBe('image_not_found');
        expect(await row(theirs.id)).toMatchObject({ product_id: null });

        const theirProduct = await newProduct({}, c.other);
        const ours = await standalone();
        const back = await attach(theirProduct, { image_id: ours.id }, c.other);
        expect(back.statusCode).toBe(404);
        expect(back.json().code).toBe('image_not_found');
        // And our image to their product, as seen from here: the product does not exist.
        const cross = await attach(theirProduct, { image_id: ours.id });
        expect(cross.statusCode).toBe(404);
        expect(cross.json().code).toBe('product_not_found');
        await expectUnchanged(ours.id);
      });

      it('answers 409 image_already_attached for an image in this or another gallery', async () => {
        const other = await newProduct();
        const image = await standalone();
        expect((await attach(other, { image_id: image.id })).statusCode).toBe(201);
        const again = await attach(other, { image_id: image.id });
        expect(again.statusCode).toBe(409);
        expect(again.json().code).toBe('image_already_attached');
        const elsewhere = await attach(p, { image_id: image.id });
        expect(elsewhere.statusCode).toBe(409);
        expect(elsewhere.json().code).toBe('image_already_attached');
        // A gallery upload is attached from the start.
        const uploaded = await galleryUpload(other);
        const stolen = await attach(p, { image_id: uploaded.id });
        expect(stolen.statusCode).toBe(409);
        expect(stolen.json().code).toBe('image_already_attached');
        expect(await row(image.id)).toMatchObject({ product_id: uuidOf(other) });
        expect((await gallery(other)).items).toHaveLength(2);
        await expectUnchanged();
      });

      it.each(['account', 'user', 'category'])(
        'answers 409 image_purpose_mismatch for purpose %s',
        async (purpose) => {
          const image = await standalone({ purpose });
          const res = await attach(p, { image_id: image.id });
          expect(res.statusCode).toBe(409);
          expect(res.json().code).toBe('image_purpose_mismatch');
          await expectUnchanged(image.id);
        },
      );

      it('answers 404 product_not_found for an unknown product', async () => {
        const image = await standalone();
        const res = await attach(randomUUID(), { image_id: image.id });
        expect(res.statusCode).toBe(404);
        expect(res.json().code).toBe('product_not_found');
        const byGtin = await call(
          app,
          'POST',
          '/api/v1/products/by-gtin/9780306406157/images',
          c.staff,
          { image_id: image.id },
        );
        expect(byGtin.statusCode).toBe(404);
        expect(byGtin.json().code).toBe('product_not_found');
        await expectUnchanged(image.id);
      });

      it('answers 403 to a user and to a key without images:write, 401 without credentials', async () => {
        const image = await standalone();
        expect((await attach(p, { image_id: image.id }, c.user)).statusCode).toBe(403);
        expect((await attach(p, { image_id: image.id }, c.readKey)).statusCode).toBe(403);
        expect((await attach(p, { image_id: image.id }, null)).statusCode).toBe(401);
        await expectUnchanged(image.id);
      });
    });

    it('lets exactly one of two concurrent attaches of the same image win', async () => {
      for (let round = 0; round < 3; round++) {
        const [a, b] = [await newProduct(), await newProduct()];
        const initial = { [a]: (await gallery(a)).version, [b]: (await gallery(b)).version };
        const image = await standalone();
        const results = await Promise.all([
          attach(a, { image_id: image.id }),
          attach(b, { image_id: image.id }),
        ]);
        expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409]);
        const loser = results.find((r) => r.statusCode === 409)!;
        expect(loser.json().code).toBe('image_already_attached');
        const winner = results.find((r) => r.statusCode === 201)!.json().product_id;
        const lost = winner === a ? b : a;
        expect(await row(image.id)).toMatchObject({ product_id: uuidOf(winner) });
        expect((await gallery(winner)).items.map((i) => i.id)).toEqual([image.id]);
        expect((await gallery(winner)).version).toBeGreaterThan(initial[winner]);
        expect(await gallery(lost)).toEqual({ items: [], version: initial[lost] });
      }
    });

    it('decides the image before If-Match: 404 for an unknown one, 409 for a retried attach, on both routes', async () => {
      const p = await newProduct();
      const read = await call(app, 'GET', galleryUrl(p), c.staff);
      const ifMatch = { headers: { 'if-match': read.headers.etag as string } };
      const [first, second, account] = [
        await standalone(),
        await standalone(),
        await standalone({ purpose: 'account' }),
      ];
      for (const url of [galleryUrl(p), `${galleryUrl(p)}/attach`]) {
        const send = (imageId: string) =>
          call(app, 'POST', url, c.staff, { image_id: imageId }, ifMatch);
        // The first attempt went through (only on the first route: the ETag is stale after it).
        if (url === galleryUrl(p)) expect((await send(first.id)).statusCode).toBe(201);
        const answers = await Promise.all(
          [first.id, encodeShortId(randomUUID()), account.id, second.id].map(send),
        );
        expect(answers.map((res) => [res.statusCode, res.json().code])).toEqual([
          [409, 'image_already_attached'],
          [404, 'image_not_found'],
          [409, 'image_purpose_mismatch'],
          // Attachable: only then does the stale If-Match count.
          [412, 'gallery_changed'],
        ]);
      }
      expect((await gallery(p)).items.map((i) => i.id)).toEqual([first.id]);
      expect(await row(second.id)).toMatchObject({ product_id: null });
    });

    (ON_POSTGRES ? it : it.skip)(
      'attaches as primary while the uploader of the image and of the primary is deleted: both succeed',
      async () => {
        const leaving = await addUser(app, c.admin, 'leaving', Role.Staff);
        const [{ id: leavingId }] = await ds.query(
          `SELECT id FROM users WHERE username = 'leaving'`,
        );
        const p = await newProduct();
        const upload = multipart({}, [{ data: jpeg, contentType: 'image/jpeg' }]);
        const primary = await call(app, 'POST', galleryUrl(p), leaving, upload.payload, {
          headers: upload.headers,
        });
        expect(primary.statusCode).toBe(201);
        const image = await standalone({ purpose: 'product' }, leaving);
        const other = new Client({ connectionString: t.db.url });
        await other.connect();
        try {
          // Only to order the two requests as they may meet by chance: the attach reaches the
          // image's row first, the user's deletion then clears the primary's uploader first.
          await other.query('BEGIN');
          await other.query('SELECT id FROM images WHERE id = $1 FOR UPDATE', [uuidOf(image.id)]);
          const attaching = attach(p, { image_id: image.id, is_primary: true });
          await new Promise((resolve) => setTimeout(resolve, 300));
          const deleting = call(app, 'DELETE', `/api/v1/users/${leavingId}`, c.admin);
          await new Promise((resolve) => setTimeout(resolve, 300));
          await other.query('COMMIT');
          const [attached, deleted] = await Promise.all([attaching, deleting]);
          expect([attached.statusCode, deleted.statusCode, deleted.body]).toEqual([201, 204, '']);
        } finally {
          await other.query('ROLLBACK').catch(() => undefined);
          await other.end();
        }
        const now = await gallery(p);
        expect(now.items.map((i) => [i.id, i.is_primary])).toEqual([
          [image.id, true],
          [primary.json().id, false],
        ]);
        expect(await row(image.id)).toMatchObject({ uploaded_by: null, expires_at: null });
      },
    );
  });

  /* ------------------------------------------------------------------ the sweep */

  /**
   * Isolation only: images of earlier tests that expired (when an earlier sweep test failed), or
   * that will within the hour (uploaded with `expires_in` 60, expiring in the middle of a test on a
   * slow run), would count in a test's sweep. They are given a day, so each test counts only its
   * own.
   */
  async function forgetEarlierExpired(): Promise<void> {
    await ds.query(
      `UPDATE images SET expires_at = now() + interval '1 day'
        WHERE expires_at <= now() + interval '1 hour'`,
    );
  }

  describe('the sweep of expired uploads', () => {
    const sweep = () => app.get(UnattachedImageSweeper).sweep();
    beforeEach(forgetEarlierExpired);

    it('deletes expired images with their files, and nothing else (durable ones stay)', async () => {
      const expired = [
        await standalone(EXPIRING),
        await standalone({ purpose: 'account', expires_in: '60' }),
        await standalone(EXPIRING, c.other),
      ];
      for (const image of expired) await expire(image.id, '2 hours');
      const recent = await standalone(EXPIRING);
      const almost = await standalone(EXPIRING);
      await expire(almost.id, '-1 minute');
      // Durable: no expiry, however old, whatever the purpose.
      const durable = [
        await standalone(),
        await standalone({ purpose: 'account' }),
        await standalone({ purpose: 'category' }, c.other),
      ];
      for (const image of durable) await backdate(image.id, '400 days');
      const attachedOld = await standalone(EXPIRING);
      const p = await newProduct();
      expect((await attach(p, { image_id: attachedOld.id })).statusCode).toBe(201);
      await backdate(attachedOld.id, '3 days');
      const galleryOld = await galleryUpload(p);
      await backdate(galleryOld.id, '3 days');

      const rowsBefore: { id: string }[] = await ds.query('SELECT id FROM images ORDER BY id');
      const filesBefore = storedFiles();
      const gone = new Set(expired.map((i) => uuidOf(i.id)));

      expect(await sweep()).toBe(expired.length);
      await deletionsDone();

      const rowsAfter: { id: string }[] = await ds.query('SELECT id FROM images ORDER BY id');
      expect(rowsAfter.map((r) => r.id)).toEqual(
        rowsBefore.map((r) => r.id).filter((id) => !gone.has(id)),
      );
      expect(storedFiles()).toEqual(
        filesBefore.filter((f) => !(f.startsWith('uploads/') && gone.has(f.split('/')[1]))),
      );
      for (const image of expired) {
        for (const url of urlsOf(image)) {
          expect(existsSync(storedPath(url))).toBe(false);
          expect((await fetchDelivered(app, url)).status).toBe(404);
        }
        const res = await attach(
          p,
          { image_id: image.id },
          image === expired[2] ? c.other : c.staff,
        );
        expect(res.statusCode).toBe(404);
      }
      for (const kept of [recent, almost, ...durable, attachedOld]) {
        expect(await row(kept.id)).toBeDefined();
        for (const url of urlsOf(kept)) expect((await fetchDelivered(app, url)).status).toBe(200);
      }
      expect((await gallery(p)).items.map((i) => i.id).sort()).toEqual(
        [attachedOld.id, galleryOld.id].sort(),
      );
      // Nothing is left to sweep.
      expect(await sweep()).toBe(0);
    });

    it('refuses to attach an expired upload, before and while it is swept', async () => {
      const images: StandaloneBody[] = [];
      const products: string[] = [];
      for (let i = 0; i < 6; i++) {
        images.push(await standalone(EXPIRING));
        products.push(await newProduct());
      }
      for (const image of images) await expire(image.id);
      const initial = await Promise.all(products.map(async (p) => (await gallery(p)).version));

      // Not yet swept: expired all the same.
      const early = await attach(products[0], { image_id: images[0].id });
      expect(early.statusCode).toBe(404);
      expect(early.json().code).toBe('image_not_found');
      expect(await row(images[0].id)).toBeDefined();

      const [swept, ...results] = await Promise.all([
        sweep(),
        ...images.map((image, i) => attach(products[i], { image_id: image.id })),
      ]);
      for (const [i, res] of results.entries()) {
        expect(res.statusCode).toBe(404);
        expect(res.json().code).toBe('image_not_found');
        expect(await gallery(products[i])).toEqual({ items: [], version: initial[i] });
      }
      // Rows an attach held locked were skipped; the next sweep takes them.
      expect(swept + (await sweep())).toBe(images.length);
      await deletionsDone();
      for (const image of images) {
        expect(await row(image.id)).toBeUndefined();
        for (const url of urlsOf(image)) expect(existsSync(storedPath(url))).toBe(false);
      }
    });

    (ON_POSTGRES ? it : it.skip)(
      'refuses to attach an upload whose expiry passed while the attach waited for the product',
      async () => {
        await forgetEarlierExpired();
        const image = await standalone(EXPIRING);
        const p = await newProduct();
        await expire(image.id, '-1 second');
        const other = new Client({ connectionString: t.db.url });
        await other.connect();
        try {
          // Another change of the gallery holds the product's row past the image's expiry.
          await other.query('BEGIN');
          await other.query('SELECT id FROM products WHERE id = $1 FOR UPDATE', [uuidOf(p)]);
          const attaching = attach(p, { image_id: image.id });
          await new Promise((resolve) => setTimeout(resolve, 2_000));
          const [{ expired }] = await ds.query(
            'SELECT expires_at <= now() AS expired FROM images WHERE id = $1',
            [uuidOf(image.id)],
          );
          expect(expired).toBe(true);
          await other.query('COMMIT');
          const res = await attaching;
          expect([res.statusCode, res.json().code]).toEqual([404, 'image_not_found']);
        } finally {
          await other.query('ROLLBACK').catch(() => undefined);
          await other.end();
        }
        expect(await row(image.id)).toMatchObject({ product_id: null });
        expect(await sweep()).toBe(1);
      },
    );

    (ON_POSTGRES ? it : it.skip)(
      'skips a row locked by another transaction, and deletes it once released',
      async () => {
        const locked = await standalone(EXPIRING);
        const free = await standalone(EXPIRING);
        await expire(locked.id);
        await expire(free.id);
        const other = new Client({ connectionString: t.db.url });
        await other.connect();
        try {
          await other.query('BEGIN');
          await other.query('SELECT id FROM images WHERE id = $1 FOR UPDATE', [uuidOf(locked.id)]);
          // The sweep must not wait for the lock; give it a generous deadline before rolling back.
          const running = sweep();
          let timer: NodeJS.Timeout | undefined;
          const outcome = await Promise.race([
            running,
            new Promise<'blocked'>((resolve) => (timer = setTimeout(resolve, 10_000, 'blocked'))),
          ]).finally(() => clearTimeout(timer));
          expect(outcome).toBe(1);
          await deletionsDone();
          expect(await row(free.id)).toBeUndefined();
          expect(await row(locked.id)).toMatchObject({ product_id: null });
          for (const url of urlsOf(locked)) expect(existsSync(storedPath(url))).toBe(true);
          for (const url of urlsOf(free)) expect(existsSync(storedPath(url))).toBe(false);
        } finally {
          await other.query('ROLLBACK').catch(() => undefined);
          await other.end();
        }
        expect(await sweep()).toBe(1);
        await deletionsDone();
        expect(await row(locked.id)).toBeUndefined();
        for (const url of urlsOf(locked)) expect(existsSync(storedPath(url))).toBe(false);
      },
    );
  });

  /* ---------------------------------------------------------- several instances */

  (ON_POSTGRES ? describe : describe.skip)('several instances on one database', () => {
    let second: NestFastifyApplication;
    let secondAdmin: Credential;

    beforeAll(async () => {
      // Same database, same DATA_DIR (so the same storage root): a second instance.
      second = await createApp({
        env: {
          NODE_ENV: 'test',
          LOG_LEVEL: 'silent',
          ADMIN_EMAIL: TEST_ADMIN.email,
          ADMIN_PASSWORD: TEST_ADMIN.password,
          ...t.db.env,
          ...APP_ENV,
          MAX_UPLOAD_BYTES: String(limitPng.length),
        },
      });
      secondAdmin = {
        bearer: await login(second, { email: TEST_ADMIN.email }, TEST_ADMIN.password),
      };
    });
    afterAll(() => second?.close());
    beforeEach(forgetEarlierExpired);

    it('sweeps 150 expired images exactly once between two instances, touching nothing else', async () => {
      const real = [
        await standalone(EXPIRING),
        await standalone({ purpose: 'user', expires_in: '60' }),
        await standalone(EXPIRING, c.other),
        await standalone(EXPIRING, secondAdmin, second),
        await standalone({ purpose: 'category', expires_in: '120' }, secondAdmin, second),
      ];
      for (const image of real) await expire(image.id, '2 hours');
      const template = uuidOf(real[0].id);
      const copies = Array.from({ length: 145 }, () => randomUUID());
      await ds.query(
        `INSERT INTO images (id, organization_id, product_id, purpose, source, title, alt_text,
                             is_primary, priority, original_filename, format, mime_type, width,
                             height, size, color_mode, has_alpha, sha256, storage_key, renditions,
                             uploaded_by, created_at, updated_at, expires_at)
         SELECT v.id, t.organization_id, NULL, t.purpose, t.source, '', '', false, 0,
                t.original_filename, t.format, t.mime_type, t.width, t.height, t.size,
                t.color_mode, t.has_alpha, t.sha256,
                replace(t.storage_key, t.id::text, v.id::text),
                replace(t.renditions::text, t.id::text, v.id::text)::jsonb,
                t.uploaded_by, now() - interval '3 hours', now() - interval '3 hours',
                now() - interval '2 hours'
           FROM images t, unnest($2::uuid[]) AS v(id)
          WHERE t.id = $1`,
        [template, copies],
      );
      const templateFiles = filesBelow(join(mediaDir, 'uploads', template));
      expect(templateFiles).toHaveLength(4);
      for (const id of copies) {
        mkdirSync(join(mediaDir, 'uploads', id), { recursive: true });
        for (const file of templateFiles) {
          copyFileSync(
            file,
            join(mediaDir, 'uploads', id, relative(join(mediaDir, 'uploads', template), file)),
          );
        }
      }
      // Not to be touched: an unexpired and a durable upload on each instance, and an old
      // attached image.
      const recent = [
        await standalone(EXPIRING),
        await standalone(EXPIRING, secondAdmin, second),
        await standalone(),
        await standalone({ purpose: 'user' }, secondAdmin, second),
      ];
      for (const image of recent.slice(2)) await backdate(image.id, '3 days');
      const p = await newProduct();
      const attachedOld = await standalone(EXPIRING);
      expect((await attach(p, { image_id: attachedOld.id })).statusCode).toBe(201);
      await backdate(attachedOld.id, '3 days');

      const expired = new Set([...real.map((i) => uuidOf(i.id)), ...copies]);
      expect(expired.size).toBe(150);
      const due: { id: string }[] = await ds.query(
        `SELECT id FROM images WHERE expires_at <= now()`,
      );
      expect(new Set(due.map((r) => r.id))).toEqual(expired);
      const rowsBefore: { id: string }[] = await ds.query('SELECT id FROM images ORDER BY id');
      const filesBefore = storedFiles();
      expect(filesBefore.filter((f) => expired.has(f.split('/')[1]))).toHaveLength(600);

      const counts = await Promise.all([
        app.get(UnattachedImageSweeper).sweep(),
        second.get(UnattachedImageSweeper).sweep(),
      ]);
      expect(counts[0] + counts[1]).toBe(150);
      await deletionsDone();

      const rowsAfter: { id: string }[] = await ds.query('SELECT id FROM images ORDER BY id');
      expect(rowsAfter.map((r) => r.id)).toEqual(
        rowsBefore.map((r) => r.id).filter((id) => !expired.has(id)),
      );
      expect(storedFiles()).toEqual(
        filesBefore.filter((f) => !(f.startsWith('uploads/') && expired.has(f.split('/')[1]))),
      );
      for (const image of [...recent, attachedOld]) {
        for (const url of urlsOf(image)) expect((await fetchDelivered(app, url)).status).toBe(200);
      }
      // Both instances agree there is nothing left.
      expect(
        await Promise.all([
          app.get(UnattachedImageSweeper).sweep(),
          second.get(UnattachedImageSweeper).sweep(),
        ]),
      ).toEqual([0, 0]);
    });
  });

  /* ----------------------------------------------------------------- scheduled */

  describe('the scheduled sweep', () => {
    let scheduled: TestApp | undefined;
    afterAll(() => scheduled?.close());

    it('is scheduled on UNATTACHED_IMAGE_SWEEP_CRON (none when off), and its job removes an expired upload', async () => {
      const schedules = (source: DataSource) =>
        source.query<{ cron: string }[]>(`SELECT cron FROM pgboss.schedule WHERE name = $1`, [
          UNATTACHED_IMAGE_SWEEP_QUEUE,
        ]);
      // This file's app has the sweep off: nothing scheduled.
      expect(await schedules(ds)).toEqual([]);

      scheduled = await startTestApp({ ...APP_ENV, UNATTACHED_IMAGE_SWEEP_CRON: '*/5  * * * *' });
      const sapp = scheduled.app;
      const sds = sapp.get(DataSource);
      expect(await schedules(sds)).toEqual([{ cron: '*/5 * * * *' }]);
      const root = join(scheduled.db.env.DATA_DIR, 'media');
      const admin = { bearer: await login(sapp, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
      const doomed = await standalone(EXPIRING, admin, sapp);
      const kept = await standalone({ purpose: 'product' }, admin, sapp);
      await expire(doomed.id, '1 minute', sds);
      await backdate(kept.id, '2 days', sds);

      // What the schedule does at each tick (on one instance): queue one job of the sweep.
      const id = await sapp.get(JobQueue).send(UNATTACHED_IMAGE_SWEEP_QUEUE, {});
      sapp.get(JobQueue).wake(UNATTACHED_IMAGE_SWEEP_QUEUE);
      const rowOf = async (imageId: string) =>
        (await sds.query<unknown[]>('SELECT id FROM images WHERE id = $1', [uuidOf(imageId)]))
          .length;
      await eventually(
        async () =>
          (await rowOf(doomed.id)) === 0 &&
          urlsOf(doomed).every((u) => !existsSync(storedPath(u, root))) &&
          (await pendingDeletions(sds)).length === 0,
        'the sweep job to delete the expired upload and its files',
      );
      // pg-boss marks the job completed after its handler returns, a moment after the deletions.
      const job = () => sapp.get(JobQueue).getJob(UNATTACHED_IMAGE_SWEEP_QUEUE, id!);
      await eventually(async () => (await job())?.state !== 'active', 'the sweep job to finish');
      expect(await job()).toMatchObject({
        state: 'completed',
        output: { swept: 1 },
      });
      // Its files' deletion job names their organisation: only its admins see it.
      const deletions = await sds.query<{ organization_id: string | null }[]>(
        `SELECT data->>'organization_id' AS organization_id FROM pgboss.job
          WHERE name = 'file-deletion' AND data->>'keys' LIKE '%' || $1 || '%'`,
        [uuidOf(doomed.id)],
      );
      const [{ organization_id: organizationId }] = await sds.query<{ organization_id: string }[]>(
        `SELECT organization_id FROM images WHERE id = $1`,
        [uuidOf(kept.id)],
      );
      expect(deletions).toEqual([{ organization_id: organizationId }]);
      expect(await rowOf(kept.id)).toBe(1);
      for (const url of urlsOf(kept)) expect(existsSync(storedPath(url, root))).toBe(true);
    });
  });
});
