import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { Role } from '../../src/auth/roles';
import { decodeId } from '../../src/common/ids/short-id';
import { gtinCheckDigit } from '../../src/products/gtin';
import { addUser, filesBelow, otherOrganisationAdmin } from '../support/accounts';
import { eventually } from '../support/eventually';
import { newProduct as newProductRow, organizationBySlug } from '../support/factories';
import { noisyPng, solidJpeg } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart, type FilePart } from '../support/multipart';
import { pendingFileDeletions } from '../support/file-deletions';
import { fetchDelivered, PUBLIC_BASE } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { theWorkOnce } from '../support/idempotent-answers';

const execFileAsync = promisify(execFile);

/** Closient's 201 body: exactly these fields. */
interface ClosientImage {
  id: string;
  title: string;
  is_primary: boolean;
  priority: number;
  created: string;
  image_url: string;
}

const FIELDS = ['created', 'id', 'image_url', 'is_primary', 'priority', 'title'];
/** Closient's shortuuid: 22 characters of its alphabet. */
const SHORT_ID = /^[23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz]{22}$/;
const ROUTE = '/dashboard/api/v1/trade-items/:organization_id/:gtin/images';

/** A GTIN of `body.length + 1` digits with its check digit. */
const gtin = (body: string) => `${body}${gtinCheckDigit(body)}`;

/** The document's curl command, as printed, as curl's arguments. */
function curlExample(
  base: string,
  organizationId: string,
  tradeItem: string,
  key: string,
): string[] {
  return [
    '--request',
    'POST',
    '--url',
    `${base}/dashboard/api/v1/trade-items/${organizationId}/${tradeItem}/images`,
    '--header',
    'Content-Type: multipart/form-data',
    '--header',
    `X-API-Key: ${key}`,
    '--form',
    'image=@example-file',
    '--form',
    'title=',
    '--form',
    'is_primary=false',
  ];
}

describe('Closient: POST /dashboard/api/v1/trade-items/{organization_id}/{gtin}/images', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let ds: DataSource;
  let base: string;
  let workDir: string;
  let mediaDir: string;
  let spoolDir: string;
  let jpeg: Buffer;
  let organizationId: string;
  let otherOrganizationId: string;
  let key: string;
  const c: Record<string, Credential> = {};
  /** The status of every response to Closient's route, in order. */
  const statuses: number[] = [];
  let gtins = 0;

  /* ------------------------------------------------------------------ helpers */

  /**
   * A product with a new GTIN of `digits` digits (GTIN-8, -12, -13 or -14), in the organisation
   * with this slug; returns the GTIN.
   */
  async function newProduct(
    digits: 8 | 12 | 13 | 14 = 13,
    organization = 'default',
  ): Promise<string> {
    gtins++;
    // GTIN-12s start with 0, so that their 11-digit form (without it) is tried too.
    const lead = { 8: '', 12: '0', 13: '', 14: '1' }[digits];
    const value = gtin(`${lead}${700 + gtins}`.padEnd(digits - 1, '4'));
    await newProductRow(ds, {
      organizationId: (await organizationBySlug(ds, organization)).id,
      name: `Item ${value}`,
      // Stored as GTIN-14, as the service stores every GTIN.
      gtin: value.padStart(14, '0'),
    });
    return value;
  }

  async function productUuid(value: string): Promise<string> {
    const [found] = await ds.query<{ id: string }[]>('SELECT id FROM products WHERE gtin = $1', [
      value.padStart(14, '0'),
    ]);
    return found.id;
  }

  async function createKey(body: object): Promise<string> {
    const res = await call(app, 'POST', '/api/v1/api-keys', c.admin, body);
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

  function upload(
    tradeItem: string,
    fields: Record<string, string>,
    files: FilePart[],
    as: Credential | null = { apiKey: key },
    organization = organizationId,
  ) {
    const body = multipart(fields, files);
    const url = `/dashboard/api/v1/trade-items/${organization}/${tradeItem}/images`;
    return call(app, 'POST', url, as ?? undefined, body.payload, { headers: body.headers });
  }

  async function uploaded(
    tradeItem: string,
    fields: Record<string, string> = {},
    as?: Credential,
  ): Promise<ClosientImage> {
    const res = await upload(tradeItem, fields, [{ data: jpeg, filename: 'front.jpg' }], as);
    expect(res.statusCode).toBe(201);
    return res.json<ClosientImage>();
  }

  /** Every documented field, of its documented type, and no other. */
  function expectClosientImage(value: unknown): asserts value is ClosientImage {
    const body = value as ClosientImage;
    expect(Object.keys(body).sort()).toEqual(FIELDS);
    expect(body.id).toMatch(SHORT_ID);
    expect(typeof body.title).toBe('string');
    expect(typeof body.is_primary).toBe('boolean');
    expect(Number.isInteger(body.priority)).toBe(true);
    expect(body.priority).toBeGreaterThanOrEqual(0);
    expect(body.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(body.image_url.startsWith(`${PUBLIC_BASE}/media/`)).toBe(true);
  }

  interface ImageRow {
    id: string;
    product_id: string;
    title: string;
    is_primary: boolean;
    priority: number;
    storage_key: string;
    size: number;
    created_at: Date;
  }

  async function row(id: string): Promise<ImageRow> {
    const [found] = await ds.query<ImageRow[]>(
      `SELECT id, product_id, title, is_primary, priority, storage_key, size, created_at
         FROM images WHERE id = $1`,
      [decodeId(id)],
    );
    return found;
  }

  /** The answer, the row and the stored original agree. */
  async function expectStored(body: ClosientImage, tradeItem: string): Promise<ImageRow> {
    const stored = await row(body.id);
    expect(stored).toMatchObject({
      product_id: await productUuid(tradeItem),
      title: body.title,
      is_primary: body.is_primary,
      priority: body.priority,
    });
    expect(stored.created_at.toISOString()).toBe(body.created);
    expect(body.image_url).toBe(`${PUBLIC_BASE}/media/${stored.storage_key}`);
    const file = join(mediaDir, stored.storage_key);
    expect(statSync(file).size).toBe(stored.size);
    const delivered = await fetchDelivered(app, body.image_url);
    expect(delivered.status).toBe(200);
    expect(delivered.body.equals(readFileSync(file))).toBe(true);
    return stored;
  }

  async function primaries(tradeItem: string): Promise<string[]> {
    const rows = await ds.query<{ id: string }[]>(
      'SELECT id FROM images WHERE product_id = $1 AND is_primary',
      [await productUuid(tradeItem)],
    );
    return rows.map((r) => r.id);
  }

  function storedFiles(): string[] {
    return filesBelow(mediaDir)
      .map((f) => relative(mediaDir, f).split(sep).join('/'))
      .filter((k) => !k.startsWith('.tmp/'))
      .sort();
  }

  async function imageCount(): Promise<number> {
    const [{ n }] = await ds.query<{ n: number }[]>('SELECT count(*)::int AS n FROM images');
    return n;
  }

  /* -------------------------------------------------------------------- setup */

  beforeAll(async () => {
    jpeg = await solidJpeg(80, 60);
    t = await startTestApp({ PUBLIC_BASE_URL: PUBLIC_BASE, MAX_UPLOAD_BYTES: '200000' });
    app = t.app;
    ds = app.get(DataSource);
    mediaDir = join(t.db.env.DATA_DIR, 'media');
    spoolDir = join(t.db.env.DATA_DIR, 'tmp', 'uploads');
    app
      .getHttpAdapter()
      .getInstance()
      .addHook('onResponse', async (request, reply) => {
        if (request.routeOptions.url === ROUTE) statuses.push(reply.statusCode);
      });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.getHttpServer().address() as { port: number };
    base = `http://127.0.0.1:${port}`;
    workDir = mkdtempSync(join(tmpdir(), 'pis-closient-'));
    writeFileSync(join(workDir, 'example-file'), jpeg);

    c.admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    c.staff = await addUser(app, c.admin, 'sasha', Role.Staff);
    c.user = await addUser(app, c.admin, 'ulla', Role.User);
    c.other = await otherOrganisationAdmin(app, 'elsewhere', 'olga');
    key = await createKey({ name: 'Closient sync', role: Role.Staff, scopes: ['images:write'] });
    const me = await call(app, 'GET', '/api/v1/auth/me', { apiKey: key });
    expect(me.statusCode).toBe(200);
    organizationId = me.json<{ organization: { id: string } }>().organization.id;
    const otherMe = await call(app, 'GET', '/api/v1/auth/me', c.other);
    otherOrganizationId = otherMe.json<{ organization: { id: string } }>().organization.id;
  });

  afterAll(async () => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    await t?.close();
  });

  /* ------------------------------------------------------ the document's example */

  it('the curl example as printed (its Content-Type without a boundary): 201, exactly the documented fields', async () => {
    const tradeItem = await newProduct(13);
    const first = await curl(curlExample(base, organizationId, tradeItem, key));
    expect(first.status).toBe(201);
    expectClosientImage(first.body);
    // The first image of a product is its primary, whatever is_primary said.
    expect(first.body).toMatchObject({ title: '', is_primary: true, priority: 0 });
    await expectStored(first.body, tradeItem);

    const second = await curl(curlExample(base, organizationId, tradeItem, key));
    expect(second.status).toBe(201);
    expectClosientImage(second.body);
    // is_primary=false: the hero stays; a new image goes after the last.
    expect(second.body).toMatchObject({ title: '', is_primary: false, priority: 1 });
    await expectStored(second.body, tradeItem);
    expect(await primaries(tradeItem)).toEqual([decodeId(first.body.id)]);
  });

  it('is_primary=true makes the image the hero and unmarks the previous one', async () => {
    const tradeItem = await newProduct(13);
    const hero = await uploaded(tradeItem);
    expect(hero.is_primary).toBe(true);
    const next = await uploaded(tradeItem, { title: 'Nutrition facts', is_primary: 'true' });
    expectClosientImage(next);
    expect(next).toMatchObject({ title: 'Nutrition facts', is_primary: true, priority: 1 });
    await expectStored(next, tradeItem);
    expect(await primaries(tradeItem)).toEqual([decodeId(next.id)]);
    expect(await row(hero.id)).toMatchObject({ is_primary: false, priority: 0 });
  });

  it('uploads sent at once to an empty gallery: each answer is the image as its upload committed it, the last is_primary=true stays the hero', async () => {
    const tradeItem = await newProduct(13);
    const url = `${base}/dashboard/api/v1/trade-items/${organizationId}/${tradeItem}/images`;
    // Over sockets, all at once: half of them is_primary=true, the others false or not sent.
    const sent = ['true', 'false', 'true', '', 'true', 'false', 'true', '', 'true', 'false'];
    const answers = await Promise.all(
      sent.map(async (isPrimary) => {
        const body = multipart(isPrimary ? { is_primary: isPrimary } : {}, [
          { data: jpeg, filename: 'front.jpg' },
        ]);
        const res = await fetch(url, {
          method: 'POST',
          headers: { ...body.headers, 'x-api-key': key },
          body: body.payload,
        });
        expect(res.status).toBe(201);
        return { isPrimary: isPrimary === 'true', body: (await res.json()) as ClosientImage };
      }),
    );
    // A new image goes after the last: the priorities 0..n-1 are the order the uploads committed.
    const inCommitOrder = [...answers].sort((a, b) => a.body.priority - b.body.priority);
    expect(inCommitOrder.map((a) => a.body.priority)).toEqual(sent.map((_, i) => i));
    // The first to commit was the hero (the gallery was empty), as was each is_primary=true
    // when it committed: that is what each answered, and not more.
    for (const [i, { isPrimary, body }] of inCommitOrder.entries()) {
      expect(body.is_primary).toBe(i === 0 || isPrimary);
      expect(await row(body.id)).toMatchObject({ priority: body.priority });
    }
    // One hero in the end: the last is_primary=true to commit, each earlier one unmarked by the next.
    const last = inCommitOrder.filter((a) => a.isPrimary).pop();
    expect(await primaries(tradeItem)).toEqual([decodeId(last!.body.id)]);
  });

  it('Idempotency-Key: a retry, also one sent at once beside the first, makes no second image', async () => {
    // As on the main API's upload, which this route is (README, "Idempotent retries").
    const tradeItem = await newProduct(13);
    const before = await imageCount();
    const send = (title: string) => {
      const body = multipart({ title }, [{ data: jpeg, filename: 'front.jpg' }]);
      const url = `/dashboard/api/v1/trade-items/${organizationId}/${tradeItem}/images`;
      return call(app, 'POST', url, { apiKey: key }, body.payload, {
        headers: { ...body.headers, 'idempotency-key': 'closient-retry-1' },
      });
    };
    const [first, beside] = await Promise.all([send('Front'), send('Front')]);
    const answered = theWorkOnce([first, beside], 201);
    const retry = await send('Front');
    expect(retry.statusCode).toBe(201);
    expect(retry.body).toBe(answered.body);
    expect(await imageCount()).toBe(before + 1);
    const reused = await send('Back');
    expect(reused.statusCode).toBe(422);
    expect(reused.json()).toMatchObject({ code: 'idempotency_key_reused' });
    expect(await imageCount()).toBe(before + 1);
  });

  it("reads is_primary as Closient's Django does: t/f and y/n too, and sent empty as not sent", async () => {
    const tradeItem = await newProduct(13);
    await uploaded(tradeItem);
    for (const [value, primary] of [
      ['t', true],
      ['f', false],
      ['Y', true],
      ['n', false],
      // `-F is_primary=` (a form's field left blank): not sent, so its default, false.
      ['', false],
    ] as const) {
      const body = await uploaded(tradeItem, { is_primary: value });
      expect(body.is_primary).toBe(primary);
      expect((await row(body.id)).is_primary).toBe(primary);
      if (primary) expect(await primaries(tradeItem)).toEqual([decodeId(body.id)]);
    }
  });

  it.each([8, 12, 13, 14] as const)(
    'a GTIN-%i product is found by its GTIN zero-padded to any length up to 14',
    async (digits) => {
      const value = await newProduct(digits);
      const forms = [value.replace(/^0/, ''), value];
      while (forms[forms.length - 1].length < 14) forms.push(`0${forms[forms.length - 1]}`);
      for (const form of new Set(forms)) {
        const body = await uploaded(form);
        expectClosientImage(body);
        expect((await row(body.id)).product_id).toBe(await productUuid(value));
      }
    },
  );

  it('takes the organisation as its UUID too, and the other credentials (Token, Bearer JWT)', async () => {
    const tradeItem = await newProduct(8);
    const uuid = decodeId(organizationId) as string;
    const byUuid = await upload(
      tradeItem,
      {},
      [{ data: jpeg }],
      { apiKey: key },
      uuid.toUpperCase(),
    );
    expect(byUuid.statusCode).toBe(201);
    expect((await upload(tradeItem, {}, [{ data: jpeg }], { token: key })).statusCode).toBe(201);
    expect((await upload(tradeItem, {}, [{ data: jpeg }], c.staff)).statusCode).toBe(201);
  });

  /* ----------------------------------------------------------------- the errors */

  describe('errors, and nothing left behind', () => {
    let tradeItem: string;
    let before: { rows: number; files: string[] };

    beforeAll(async () => {
      tradeItem = await newProduct(13);
    });
    beforeEach(async () => {
      before = { rows: await imageCount(), files: storedFiles() };
    });
    afterEach(async () => {
      expect(await imageCount()).toBe(before.rows);
      // Files written before the refusal are deleted by a file-deletion job, right after it.
      await eventually(
        async () => (await pendingFileDeletions(ds)).length === 0,
        'the queued file deletions to be done',
      );
      expect(storedFiles()).toEqual(before.files);
      expect(filesBelow(spoolDir)).toEqual([]);
    });

    it('400 without an image, or with a title over 255 characters', async () => {
      const none = await upload(tradeItem, { title: 'Front' }, []);
      expect(none.statusCode).toBe(400);
      expect(none.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(none.json()).toMatchObject({ code: 'image_required', errors: [{ field: 'image' }] });
      const long = await upload(tradeItem, { title: 'x'.repeat(256) }, [{ data: jpeg }]);
      expect(long.statusCode).toBe(400);
      expect(long.json()).toMatchObject({
        code: 'validation_failed',
        errors: [{ field: 'title' }],
      });
    });

    it('400 for a malformed organisation id or GTIN', async () => {
      for (const organization of ['not-an-id', '1'.repeat(22), 'x'.repeat(23)]) {
        const res = await upload(tradeItem, {}, [{ data: jpeg }], { apiKey: key }, organization);
        expect(res.statusCode).toBe(400);
        expect(res.json()).toMatchObject({
          code: 'invalid_id',
          errors: [{ field: 'organization_id' }],
        });
      }
      const wrongCheckDigit = tradeItem.slice(0, -1) + String((Number(tradeItem.at(-1)) + 1) % 10);
      for (const value of [
        '1234567',
        '123456789012345',
        'abcdefgh',
        '1234-5678',
        wrongCheckDigit,
      ]) {
        const res = await upload(value, {}, [{ data: jpeg }]);
        expect(res.statusCode).toBe(400);
        expect(res.json()).toMatchObject({ code: 'invalid_gtin', errors: [{ field: 'gtin' }] });
      }
    });

    it('401 for a bad key (the curl example with a wrong key)', async () => {
      const res = await curl(
        curlExample(base, organizationId, tradeItem, 'pis_wrongkey_000000000000'),
      );
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ status: 401, code: 'invalid_api_key' });
    });

    it('403 for a user without the staff role', async () => {
      const res = await upload(tradeItem, {}, [{ data: jpeg }], c.user);
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('insufficient_role');
    });

    it("404 for an unknown GTIN, and for another organisation's id (whose product exists)", async () => {
      const unknown = await curl(curlExample(base, organizationId, gtin('400000000000'), key));
      expect(unknown.status).toBe(404);
      // In Closient's terms, which address a trade item by its GTIN only.
      const detail = 'No product with this GTIN in this organisation.';
      expect(unknown.body).toMatchObject({ code: 'product_not_found', detail });
      const theirs = await newProduct(13, 'elsewhere');
      const other = await upload(
        theirs,
        {},
        [{ data: jpeg }],
        { apiKey: key },
        otherOrganizationId,
      );
      expect(other.statusCode).toBe(404);
      expect(other.json()).toMatchObject({ code: 'product_not_found', detail });
      // Their own admin is refused ours the same way.
      const reverse = await upload(tradeItem, {}, [{ data: jpeg }], c.other, organizationId);
      expect(reverse.statusCode).toBe(404);
      expect(reverse.json().code).toBe('product_not_found');
    });

    it('413 for a file over the upload limit', async () => {
      const big = await noisyPng(400, 300);
      const res = await upload(tradeItem, {}, [{ data: big, filename: 'big.png' }]);
      expect(res.statusCode).toBe(413);
      expect(res.json()).toMatchObject({ code: 'file_too_large', errors: [{ field: 'image' }] });
    });
  });

  it('is not served when COMPAT_APIS leaves it out', async () => {
    const other = await startTestApp({ COMPAT_APIS: 'token-api' });
    try {
      const body = multipart({}, [{ data: jpeg }]);
      const url = `/dashboard/api/v1/trade-items/${organizationId}/96385074/images`;
      const res = await call(other.app, 'POST', url, { apiKey: key }, body.payload, {
        headers: body.headers,
      });
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('route_not_found');
    } finally {
      await other.close();
    }
  });
});
