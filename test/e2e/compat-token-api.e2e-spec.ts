import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { Role } from '../../src/auth/roles';
import { decodeId, encodeShortId } from '../../src/common/ids/short-id';
import { addUser, filesBelow } from '../support/accounts';
import { eventually } from '../support/eventually';
import { newProduct as newProductRow, organizationBySlug } from '../support/factories';
import {
  bmp,
  cmykJpeg,
  gif,
  noisyPng,
  pngWithAlpha,
  safeSvg,
  solidJpeg,
} from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart, type FieldPart, type FilePart } from '../support/multipart';
import { pendingFileDeletions } from '../support/file-deletions';
import { fetchDelivered, PUBLIC_BASE } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { theWorkOnce } from '../support/idempotent-answers';

const execFileAsync = promisify(execFile);

/** An 8×8 grey PNG, with alpha when of two channels. */
function greyPng(channels: 1 | 2): Promise<Buffer> {
  return sharp(Buffer.alloc(64 * channels, 0x77), { raw: { width: 8, height: 8, channels } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

/** The token API's 201 body: exactly these fields. */
interface TokenApiImage {
  id: number;
  type: string;
  user: { id: number; username: string; full_name: string };
  name: string;
  f: string;
  size: number;
  description: string;
  width: number;
  height: number;
  human_readable_size: string;
  mode: string;
  created_at: string;
  updated_at: string;
}

const FIELDS = [
  'created_at',
  'description',
  'f',
  'height',
  'human_readable_size',
  'id',
  'mode',
  'name',
  'size',
  'type',
  'updated_at',
  'user',
  'width',
];

/** The document's Python example, as printed (its indentation restored). */
const PYTHON_EXAMPLE = `import requests

# Upload a new product image
with open('product_image.jpg', 'rb') as image_file:
    files = {'image': image_file}
    data = {
        'alt_text': 'Product front view',
        'is_primary': True,
        'order': 1
    }
    response = requests.post(
        'http://www.example.com/api/products/123/images',
        files=files,
        data=data,
        headers={'Authorization': 'Token <your_api_key>'}
    )
print(response.json())

# Upload additional image
with open('product_side.jpg', 'rb') as image_file:
    files = {'image': image_file}
    data = {
        'alt_text': 'Product side view',
        'order': 2
    }
    response = requests.post(
        'http://www.example.com/api/products/123/images',
        files=files,
        data=data,
        headers={'Authorization': 'Token <your_api_key>'}
    )
print(response.json())
`;

/**
 * Runs a Python file with `print` writing JSON instead of Python's repr, so that the printed
 * `response.json()` can be read here; the file itself runs unchanged.
 */
const PRINT_AS_JSON = [
  'import builtins, json, runpy, sys',
  'builtins.print = lambda value: sys.stdout.write(json.dumps(value) + "\\n")',
  'runpy.run_path(sys.argv[1], run_name="__main__")',
].join('\n');

/** The document's two curl commands, as printed, as curl's arguments. */
function curlExamples(base: string, product: string, key: string): string[][] {
  const url = `${base}/api/products/${product}/images`;
  return [
    [
      '-X',
      'POST',
      url,
      '-H',
      `Authorization: Token ${key}`,
      '-F',
      'image=@product_image.jpg',
      '-F',
      'alt_text=Product front view',
      '-F',
      'is_primary=true',
      '-F',
      'order=1',
    ],
    [
      '-X',
      'POST',
      url,
      '-H',
      `Authorization: Token ${key}`,
      '-F',
      'image=@product_side.jpg',
      '-F',
      'alt_text=Product side view',
      '-F',
      'order=2',
    ],
  ];
}

describe('The token API: POST /api/products/{product_id}/images', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let ds: DataSource;
  let base: string;
  let workDir: string;
  let mediaDir: string;
  let spoolDir: string;
  let front: Buffer;
  let side: Buffer;
  let adminNumber: number;
  let staffNumber: number;
  const c: Record<string, Credential> = {};
  let writeKey: string;
  /** The status of every response to the token API's route, in order. */
  const statuses: number[] = [];

  /* ------------------------------------------------------------------ helpers */

  /** A new product (with this external id, if given); its id. */
  async function newProduct(externalId?: string, name = 'Token API product'): Promise<string> {
    const organization = await organizationBySlug(ds);
    const product = await newProductRow(ds, { organizationId: organization.id, name, externalId });
    return encodeShortId(product.id);
  }

  async function createKey(body: object, as: Credential = c.admin): Promise<string> {
    const res = await call(app, 'POST', '/api/v1/api-keys', as, body);
    expect(res.statusCode).toBe(201);
    return res.json<{ key: string }>().key;
  }

  async function curl(args: string[]): Promise<{ status: number; body: unknown }> {
    const before = statuses.length;
    // No personal settings (~/.curlrc): HOME is the work folder.
    const { stdout } = await execFileAsync('curl', args, {
      cwd: workDir,
      env: { PATH: process.env.PATH ?? '', HOME: workDir },
    });
    expect(statuses.length).toBe(before + 1);
    return { status: statuses[before], body: JSON.parse(stdout) as unknown };
  }

  /** Runs the document's Python example for a product and key; what each print() printed. */
  async function python(
    product: string,
    key: string,
  ): Promise<{ statuses: number[]; printed: unknown[] }> {
    const script = join(workDir, 'create_product_image.py');
    writeFileSync(
      script,
      PYTHON_EXAMPLE.replaceAll('http://www.example.com', base)
        .replaceAll('/api/products/123/', `/api/products/${product}/`)
        .replaceAll('<your_api_key>', key),
    );
    const before = statuses.length;
    try {
      const { stdout } = await execFileAsync('python3', ['-c', PRINT_AS_JSON, script], {
        cwd: workDir,
        env: { PATH: process.env.PATH ?? '', HOME: workDir },
      });
      return {
        statuses: statuses.slice(before),
        printed: stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as unknown),
      };
    } finally {
      rmSync(script, { force: true });
    }
  }

  function upload(
    product: string,
    fields: Record<string, FieldPart>,
    files: FilePart[],
    as: Credential | null = { token: writeKey },
  ) {
    const body = multipart(fields, files);
    return call(app, 'POST', `/api/products/${product}/images`, as ?? undefined, body.payload, {
      headers: body.headers,
    });
  }

  async function uploaded(
    product: string,
    fields: Record<string, string>,
    file: FilePart,
    as?: Credential,
  ): Promise<TokenApiImage> {
    const res = await upload(product, fields, [file], as);
    expect(res.statusCode).toBe(201);
    return res.json<TokenApiImage>();
  }

  /** Every documented field, of its documented type, and no other. */
  function expectTokenApiImage(value: unknown): asserts value is TokenApiImage {
    const body = value as TokenApiImage;
    expect(Object.keys(body).sort()).toEqual(FIELDS);
    expect(Object.keys(body.user).sort()).toEqual(['full_name', 'id', 'username']);
    for (const n of [body.id, body.size, body.width, body.height, body.user.id]) {
      expect(Number.isInteger(n)).toBe(true);
    }
    expect(body.id).toBeGreaterThan(0);
    for (const s of [body.type, body.name, body.f, body.description, body.mode]) {
      expect(typeof s).toBe('string');
    }
    expect(typeof body.user.username).toBe('string');
    expect(typeof body.user.full_name).toBe('string');
    expect(body.human_readable_size).toMatch(/^\d+(\.\d)? (bytes?|KB|MB|GB)$/);
    expect(body.f.startsWith(`${PUBLIC_BASE}/media/`)).toBe(true);
    for (const date of [body.created_at, body.updated_at]) {
      expect(date).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    }
  }

  interface ImageRow {
    number: string;
    product_id: string;
    alt_text: string;
    is_primary: boolean;
    priority: number;
    original_filename: string;
    storage_key: string;
    size: number;
    uploaded_by: string | null;
  }

  async function row(number: number): Promise<ImageRow> {
    const [found] = await ds.query<ImageRow[]>(
      `SELECT number, product_id, alt_text, is_primary, priority, original_filename, storage_key,
              size, uploaded_by
         FROM images WHERE number = $1`,
      [number],
    );
    return found;
  }

  function productUuid(id: string): string {
    const uuid = decodeId(id);
    if (!uuid) throw new Error(`not an id: ${id}`);
    return uuid;
  }

  /** The image, its row and its stored original agree with the answer. */
  async function expectStored(body: TokenApiImage, product: string): Promise<ImageRow> {
    const stored = await row(body.id);
    expect(stored).toBeDefined();
    expect(stored.product_id).toBe(productUuid(product));
    expect(body.f).toBe(`${PUBLIC_BASE}/media/${stored.storage_key}`);
    const file = join(mediaDir, stored.storage_key);
    expect(statSync(file).size).toBe(body.size);
    expect(stored.size).toBe(body.size);
    const delivered = await fetchDelivered(app, body.f);
    expect(delivered.status).toBe(200);
    expect(delivered.body.equals(readFileSync(file))).toBe(true);
    return stored;
  }

  async function gallery(
    product: string,
  ): Promise<{ number: number; is_primary: boolean; priority: number }[]> {
    const rows = await ds.query<{ number: string; is_primary: boolean; priority: number }[]>(
      `SELECT i.number, i.is_primary, i.priority FROM images i
         WHERE i.product_id = $1 ORDER BY i.number`,
      [productUuid(product)],
    );
    return rows.map((r) => ({ ...r, number: Number(r.number) }));
  }

  /** Stored files (relative to the storage root), without the write area. */
  function storedFiles(): string[] {
    return filesBelow(mediaDir)
      .map((f) => relative(mediaDir, f).split(sep).join('/'))
      .filter((key) => !key.startsWith('.tmp/'))
      .sort();
  }

  async function imageCount(): Promise<number> {
    const [{ n }] = await ds.query<{ n: number }[]>('SELECT count(*)::int AS n FROM images');
    return n;
  }

  /** A refused upload left no row, no stored file, no queued deletion and no spooled file. */
  async function expectNothingLeft(before: { rows: number; files: string[] }): Promise<void> {
    expect(await imageCount()).toBe(before.rows);
    // Files written before the refusal are deleted by a file-deletion job, right after it.
    await eventually(
      async () => (await pendingFileDeletions(ds)).length === 0,
      'the queued file deletions to be done',
    );
    expect(storedFiles()).toEqual(before.files);
    expect(filesBelow(spoolDir)).toEqual([]);
    expect(filesBelow(join(mediaDir, '.tmp'))).toEqual([]);
  }

  /* -------------------------------------------------------------------- setup */

  beforeAll(async () => {
    front = await solidJpeg(120, 90);
    side = await solidJpeg(90, 120);
    t = await startTestApp({
      PUBLIC_BASE_URL: PUBLIC_BASE,
      MAX_UPLOAD_BYTES: '200000',
    });
    app = t.app;
    ds = app.get(DataSource);
    mediaDir = join(t.db.env.DATA_DIR, 'media');
    spoolDir = join(t.db.env.DATA_DIR, 'tmp', 'uploads');
    app
      .getHttpAdapter()
      .getInstance()
      .addHook('onResponse', async (request, reply) => {
        if (request.routeOptions.url === '/api/products/:product_id/images') {
          statuses.push(reply.statusCode);
        }
      });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.getHttpServer().address() as { port: number };
    base = `http://127.0.0.1:${port}`;
    workDir = mkdtempSync(join(tmpdir(), 'pis-token-api-'));
    writeFileSync(join(workDir, 'product_image.jpg'), front);
    writeFileSync(join(workDir, 'product_side.jpg'), side);

    c.admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    c.staff = await addUser(app, c.admin, 'stella', Role.Staff);
    c.user = await addUser(app, c.admin, 'ulla', Role.User);
    writeKey = await createKey({ name: 'shop sync', role: Role.Staff, scopes: ['images:write'] });
    const numbers = await ds.query<{ username: string; number: string }[]>(
      'SELECT username, number FROM users',
    );
    const numberOf = (name: string) => Number(numbers.find((u) => u.username === name)?.number);
    adminNumber = numberOf('admin');
    staffNumber = numberOf('stella');
  });

  afterAll(async () => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    await t?.close();
  });

  /* ------------------------------------------------------ the document's examples */

  describe("the document's examples", () => {
    it('curl: both commands as printed; 201 with exactly the documented fields', async () => {
      // The document's product 123: a product whose external id is 123.
      const product = await newProduct('123');
      const [first, second] = curlExamples(base, '123', writeKey);

      const a = await curl(first);
      expect(a.status).toBe(201);
      expectTokenApiImage(a.body);
      expect(a.body).toMatchObject({
        type: 'JPEG',
        // The key's creator, the administrator.
        user: { id: adminNumber, username: 'admin', full_name: 'Administrator' },
        name: 'product_image.jpg',
        size: statSync(join(mediaDir, (await row(a.body.id)).storage_key)).size,
        description: '',
        width: 120,
        height: 90,
        mode: 'RGB',
      });
      const aRow = await expectStored(a.body, product);
      expect(aRow).toMatchObject({
        alt_text: 'Product front view',
        is_primary: true,
        priority: 1,
        original_filename: 'product_image.jpg',
      });

      const b = await curl(second);
      expect(b.status).toBe(201);
      expectTokenApiImage(b.body);
      expect(b.body).toMatchObject({
        type: 'JPEG',
        name: 'product_side.jpg',
        width: 90,
        height: 120,
      });
      expect(b.body.id).toBeGreaterThan(a.body.id);
      const bRow = await expectStored(b.body, product);
      expect(bRow).toMatchObject({ alt_text: 'Product side view', is_primary: false, priority: 2 });
    });

    it("Python (requests): the snippet as printed; Python's True makes the image primary", async () => {
      const product = await newProduct('456');
      // An image already primary, which the snippet's first upload takes over from.
      const earlier = await uploaded(
        product,
        { is_primary: 'true' },
        {
          data: front,
          filename: 'earlier.jpg',
          contentType: 'image/jpeg',
        },
      );

      const run = await python('456', writeKey);
      expect(run.statuses).toEqual([201, 201]);
      expect(run.printed).toHaveLength(2);
      const [first, second] = run.printed;
      expectTokenApiImage(first);
      expectTokenApiImage(second);
      expect(first).toMatchObject({ name: 'product_image.jpg', width: 120, height: 90 });
      expect(second).toMatchObject({ name: 'product_side.jpg', width: 90, height: 120 });
      await expectStored(first, product);
      await expectStored(second, product);

      expect(await gallery(product)).toEqual([
        { number: earlier.id, is_primary: false, priority: 0 },
        { number: first.id, is_primary: true, priority: 1 },
        { number: second.id, is_primary: false, priority: 2 },
      ]);
      expect(await row(first.id)).toMatchObject({ alt_text: 'Product front view' });
      expect(await row(second.id)).toMatchObject({ alt_text: 'Product side view' });
      expect(existsSync(join(workDir, 'create_product_image.py'))).toBe(false);
    });
  });

  /* ---------------------------------------------------------------- the fields */

  describe('fields', () => {
    it('order defaults to 0 and is the gallery priority; is_primary as clients spell it', async () => {
      const product = await newProduct();
      const a = await uploaded(product, {}, { data: front, filename: 'a.jpg' });
      const b = await uploaded(
        product,
        { order: '5', is_primary: 'False' },
        { data: front, filename: 'b.jpg' },
      );
      const c2 = await uploaded(product, { is_primary: '1' }, { data: front, filename: 'c.jpg' });
      const d = await uploaded(
        product,
        { is_primary: 'yes', order: '3' },
        { data: front, filename: 'd.jpg' },
      );
      expect(await gallery(product)).toEqual([
        // The first image of a gallery is its primary until another is made so.
        { number: a.id, is_primary: false, priority: 0 },
        { number: b.id, is_primary: false, priority: 5 },
        { number: c2.id, is_primary: false, priority: 0 },
        { number: d.id, is_primary: true, priority: 3 },
      ]);
      // An input left blank, as a form posts it: not sent (Django REST framework's reading).
      const e = await uploaded(
        product,
        { order: '', is_primary: '' },
        { data: front, filename: 'e.jpg' },
      );
      expect((await gallery(product)).find((row) => row.number === e.id)).toEqual({
        number: e.id,
        is_primary: false,
        priority: 0,
      });
    });

    it('uploads sent at once to an empty gallery: one primary, the last is_primary=true to commit', async () => {
      const product = await newProduct();
      const sent = ['True', 'false', 'True', '', 'True', 'false', 'True', '', 'True', 'false'];
      const answers = await Promise.all(
        sent.map(async (isPrimary) => {
          const res = await upload(product, isPrimary ? { is_primary: isPrimary } : {}, [
            { data: front, filename: 'a.jpg' },
          ]);
          expect(res.statusCode).toBe(201);
          return { isPrimary: isPrimary === 'True', id: res.json<TokenApiImage>().id };
        }),
      );
      // The ids are numbered as the images join, one upload at a time (the product is locked).
      const lastPrimary = Math.max(...answers.filter((a) => a.isPrimary).map((a) => a.id));
      expect(await gallery(product)).toEqual(
        answers
          .map((a) => ({ number: a.id, is_primary: a.id === lastPrimary, priority: 0 }))
          .sort((a, b) => a.number - b.number),
      );
    });

    it("order: a whole number written with a decimal point (Python's 2.0) is that integer, as Django REST framework reads it", async () => {
      // requests sends a float as Python prints it: {'order': 2.0} is "2.0". Django REST
      // framework's IntegerField strips a trailing `.0…` before int(); 1.5 stays refused.
      const product = await newProduct();
      const a = await uploaded(product, { order: '2.0' }, { data: front, filename: 'a.jpg' });
      const b = await uploaded(product, { order: '3.' }, { data: front, filename: 'b.jpg' });
      const c2 = await uploaded(product, { order: ' 4.00 ' }, { data: front, filename: 'c.jpg' });
      expect(await gallery(product)).toEqual([
        { number: a.id, is_primary: true, priority: 2 },
        { number: b.id, is_primary: false, priority: 3 },
        { number: c2.id, is_primary: false, priority: 4 },
      ]);
    });

    it('is_primary: t/f and y/n too, as Django REST framework (the token API) reads them', async () => {
      const product = await newProduct();
      const first = await uploaded(product, {}, { data: front, filename: 'a.jpg' });
      for (const [value, primary] of [
        ['t', true],
        ['f', false],
        ['Y', true],
        ['n', false],
      ] as const) {
        const body = await uploaded(product, { is_primary: value }, { data: front });
        const rows = await gallery(product);
        expect(rows.find((r) => r.number === body.id)?.is_primary).toBe(primary);
        if (primary) expect(rows.filter((r) => r.is_primary)).toHaveLength(1);
      }
      expect((await gallery(product)).find((r) => r.number === first.id)?.is_primary).toBe(false);
    });

    it.each([
      ['a GIF', 'GIF', 'P', () => gif()],
      ['a PNG with alpha', 'PNG', 'RGBA', () => pngWithAlpha()],
      ['a CMYK JPEG', 'JPEG', 'CMYK', () => cmykJpeg()],
      ['a grey PNG', 'PNG', 'L', () => greyPng(1)],
      ['a grey PNG with alpha', 'PNG', 'LA', () => greyPng(2)],
      ['a BMP (stored as PNG)', 'PNG', 'RGB', () => Promise.resolve(bmp())],
      ['an SVG', 'SVG', 'RGBA', () => Promise.resolve(safeSvg())],
    ])('%s: type %s, mode %s', async (_what, type, mode, make) => {
      const product = await newProduct();
      const body = await uploaded(product, {}, { data: await make(), filename: 'upload' });
      expectTokenApiImage(body);
      expect(body).toMatchObject({ type, mode });
    });

    it('user: the uploader by number (a JWT user); 0 and the key name for a key no user made', async () => {
      const product = await newProduct();
      const byStaff = await uploaded(product, {}, { data: front, filename: 'a.jpg' }, c.staff);
      expect(byStaff.user).toEqual({ id: staffNumber, username: 'stella', full_name: '' });

      // A key whose creator was deleted since: it still works, and names no user.
      const res = await call(app, 'POST', '/api/v1/users', c.admin, {
        email: 'leaver@test.example',
        username: 'leaver',
        password: 'correct horse battery staple',
        role: Role.Admin,
      });
      const leaver = {
        bearer: await login(app, { username: 'leaver' }, 'correct horse battery staple'),
      };
      const orphanKey = await createKey(
        { name: 'nightly import', role: Role.Staff, scopes: ['images:write'] },
        leaver,
      );
      const removed = await call(
        app,
        'DELETE',
        `/api/v1/users/${res.json<{ id: string }>().id}`,
        c.admin,
      );
      expect(removed.statusCode).toBe(204);
      const byOrphan = await uploaded(
        product,
        {},
        { data: front, filename: 'b.jpg' },
        { token: orphanKey },
      );
      expectTokenApiImage(byOrphan);
      expect(byOrphan.user).toEqual({ id: 0, username: '', full_name: 'nightly import' });
      expect((await row(byOrphan.id)).uploaded_by).toBeNull();
    });

    it('product_id: the external id first, then the id (22 characters or UUID)', async () => {
      const plain = await newProduct();
      // Another product whose external id happens to be the first one's id: it wins.
      const shadow = await newProduct(plain);
      const byExternal = await uploaded(plain, {}, { data: front });
      expect((await row(byExternal.id)).product_id).toBe(productUuid(shadow));

      const other = await newProduct();
      for (const form of [other, productUuid(other), productUuid(other).toUpperCase()]) {
        const body = await uploaded(form, {}, { data: front });
        expect((await row(body.id)).product_id).toBe(productUuid(other));
      }

      const sku = await newProduct('SKU 12-ä');
      const bySku = await uploaded(encodeURIComponent('SKU 12-ä'), {}, { data: front });
      expect((await row(bySku.id)).product_id).toBe(productUuid(sku));
    });

    it('Idempotency-Key: a retry, also one sent at once beside the first, makes no second image', async () => {
      // As on the main API's upload, which this route is (README, "Idempotent retries"): a
      // client that lost an answer sends the request again with its key.
      const product = await newProduct();
      const before = await imageCount();
      const send = (body = multipart({ alt_text: 'Front', order: '1' }, [{ data: front }])) =>
        call(app, 'POST', `/api/products/${product}/images`, { token: writeKey }, body.payload, {
          headers: { ...body.headers, 'idempotency-key': 'token-api-retry-1' },
        });
      const [first, beside] = await Promise.all([send(), send()]);
      const answered = theWorkOnce([first, beside], 201);
      const retry = await send();
      expect(retry.statusCode).toBe(201);
      expect(retry.body).toBe(answered.body);
      expect(await imageCount()).toBe(before + 1);
      // The same key with another image.
      const reused = await send(multipart({ alt_text: 'Back' }, [{ data: side }]));
      expect(reused.statusCode).toBe(422);
      expect(reused.json()).toMatchObject({ code: 'idempotency_key_reused' });
      expect(await imageCount()).toBe(before + 1);
    });

    it('takes the other credentials too: X-API-Key and a Bearer JWT', async () => {
      const product = await newProduct();
      const byHeader = await uploaded(product, {}, { data: front }, { apiKey: writeKey });
      expect(byHeader.user.id).toBe(adminNumber);
      const byJwt = await uploaded(product, {}, { data: front }, c.admin);
      expect(byJwt.user).toEqual({
        id: adminNumber,
        username: 'admin',
        full_name: 'Administrator',
      });
    });
  });

  /* ----------------------------------------------------------------- the errors */

  describe('documented errors, and nothing left behind', () => {
    let product: string;
    let before: { rows: number; files: string[] };

    beforeAll(async () => {
      product = await newProduct(undefined, 'Refusals');
    });
    beforeEach(async () => {
      before = { rows: await imageCount(), files: storedFiles() };
    });
    afterEach(async () => {
      await expectNothingLeft(before);
    });

    it('400 without an image', async () => {
      const res = await upload(product, { alt_text: 'No file' }, []);
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ code: 'image_required', errors: [{ field: 'image' }] });
    });

    it('400 for what is not an image, and for a bad order or is_primary', async () => {
      const text = await upload(product, {}, [{ data: Buffer.from('hello'), filename: 'x.jpg' }]);
      expect(text.statusCode).toBe(400);
      expect(text.json().code).toBe('unsupported_image_type');
      for (const fields of [
        { order: '-1' },
        { order: '1000001' },
        { order: '1.5' },
        { order: 'first' },
        { order: ' ' },
        { is_primary: 'maybe' },
        { is_primary: ' ' },
      ] as Record<string, string>[]) {
        const res = await upload(product, fields, [{ data: front }]);
        expect(res.statusCode).toBe(400);
        expect(res.json().code).toBe('validation_failed');
        const errors = res.json<{ errors: { field: string }[] }>().errors;
        expect(errors.map((e) => e.field)).toEqual([Object.keys(fields)[0]]);
      }
    });

    it('400 for a text field typed application/json, which is not kept as sent', async () => {
      // The multipart reader parses such a part: `{"en": "Front"}` was stored as
      // "[object Object]", and one that is not JSON was a 406.
      const json = { value: '{"en": "Front"}', contentType: 'application/json' };
      const typed = await upload(product, { alt_text: json }, [{ data: front }]);
      expect(typed.statusCode).toBe(400);
      expect(typed.json()).toMatchObject({
        code: 'validation_failed',
        errors: [{ field: 'alt_text', message: 'send it as text, not as application/json' }],
      });
      const notJson = { value: 'Front view', contentType: 'application/json; charset=utf-8' };
      const broken = await upload(product, { alt_text: notJson }, [{ data: front }]);
      expect(broken.statusCode).toBe(400);
      expect(broken.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(broken.json()).toMatchObject({
        code: 'invalid_multipart',
        detail: expect.stringMatching(/says it is JSON/),
      });
      // Typed as text, the same field is taken.
      const plain = { value: '{"en": "Front"}', contentType: 'text/plain; charset=utf-8' };
      const taken = await upload(product, { alt_text: plain }, [{ data: front }]);
      expect(taken.statusCode).toBe(201);
      expect((await row(taken.json().id)).alt_text).toBe('{"en": "Front"}');
      before = { rows: await imageCount(), files: storedFiles() };
    });

    it('401 for a bad key (the curl example with a wrong key)', async () => {
      const [first] = curlExamples(base, product, 'pis_wrongkey_0000000000000000000000');
      const res = await curl(first);
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ code: 'invalid_api_key', status: 401 });
      const none = await upload(product, {}, [{ data: front }], null);
      expect(none.statusCode).toBe(401);
      expect(none.json().code).toBe('authentication_required');
    });

    it('403 for a user without the staff role, or a key without images:write', async () => {
      const res = await upload(product, {}, [{ data: front }], c.user);
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('insufficient_role');
      const readKey = await createKey({
        name: 'reader',
        role: Role.Staff,
        scopes: ['images:read'],
      });
      const scoped = await upload(product, {}, [{ data: front }], { token: readKey });
      expect(scoped.statusCode).toBe(403);
      expect(scoped.json().code).toBe('insufficient_scope');
    });

    it('404 for an unknown product (the curl example)', async () => {
      const [first] = curlExamples(base, '999999', writeKey);
      const res = await curl(first);
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ code: 'product_not_found', status: 404 });
      for (const unknown of [randomUUID(), encodeShortId(randomUUID()), 'no-such-sku', '%01']) {
        const res2 = await upload(unknown, {}, [{ data: front }]);
        expect(res2.statusCode).toBe(404);
        // In the token API's terms, which address a product by product_id, never by GTIN.
        expect(res2.json()).toMatchObject({
          code: 'product_not_found',
          detail: 'No product with this external id or id in your organisation.',
        });
      }
    });

    it('413 for a file over the upload limit', async () => {
      const big = await noisyPng(400, 300);
      const res = await upload(product, {}, [
        { data: big, filename: 'big.png', contentType: 'image/png' },
      ]);
      expect(res.statusCode).toBe(413);
      expect(res.json()).toMatchObject({ code: 'file_too_large', errors: [{ field: 'image' }] });
    });
  });

  it('is not served when COMPAT_APIS leaves it out', async () => {
    const other = await startTestApp({ COMPAT_APIS: 'closient' });
    try {
      const body = multipart({}, [{ data: front }]);
      const res = await call(
        other.app,
        'POST',
        '/api/products/123/images',
        { token: writeKey },
        body.payload,
        {
          headers: body.headers,
        },
      );
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('route_not_found');
    } finally {
      await other.close();
    }
  });
});
