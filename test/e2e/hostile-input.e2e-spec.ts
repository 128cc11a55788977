import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { InjectOptions, Response } from 'light-my-request';
import { DataSource } from 'typeorm';
import { MAX_JSON_DEPTH } from '../../src/common/http/json-depth';
import { MAX_OBJECT_FIELDS } from '../../src/common/http/validation';
import { decodeId } from '../../src/common/ids/short-id';
import { filesBelow, TEST_PASSWORD } from '../support/accounts';
import { solidJpeg } from '../support/fixtures';
import { authHeaders, call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * Input a hostile client sends to reach PostgreSQL or the stack unchecked: NUL characters, page
 * numbers whose offset overflows, JSON nested thousands of levels deep, URLs the router refuses.
 * Every route family answers 400 (404 under /media) problem+json, with its security headers and
 * request id, never 500, and creates nothing.
 */

const PROBLEM = /^application\/problem\+json/;
const NUL_MESSAGE = 'must not contain the NUL character (U+0000)';
const SURROGATE_MESSAGE = 'must be well-formed Unicode: no lone surrogate (U+D800 to U+DFFF)';
const DEPTH_MESSAGE = `is nested more than ${MAX_JSON_DEPTH} levels deep`;
const GTIN = '4006381333931';

interface FieldError {
  field: string;
  message: string;
}

/** A refusal as a client sees it: status, problem+json, headers, a field-level error. */
function expectRefused(res: Response, status: number, code: string): FieldError[] {
  expect({ status: res.statusCode, body: res.body.slice(0, 300) }).toMatchObject({ status });
  expect(res.headers['content-type']).toMatch(PROBLEM);
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers['content-security-policy']).toContain("default-src 'none'");
  expect(res.headers['x-frame-options']).toBeDefined();
  const body = res.json<{
    code: string;
    status: number;
    request_id: string;
    errors: FieldError[];
  }>();
  expect(body).toMatchObject({ status, code, type: `urn:product-images:problem:${code}` });
  expect(typeof res.headers['x-request-id']).toBe('string');
  expect(body.request_id).toBe(res.headers['x-request-id']);
  expect(res.body).not.toMatch(/\bat \S+ \(|node_modules|stack|FST_ERR/);
  if (status === 400) {
    expect(body.errors.length).toBeGreaterThan(0);
    for (const error of body.errors) {
      expect(typeof error.field).toBe('string');
      expect(typeof error.message).toBe('string');
    }
  }
  return body.errors;
}

/** `read()` once it returns an empty list, or its last value after five seconds. */
async function settled<T>(read: () => T[]): Promise<T[]> {
  const deadline = Date.now() + 5000;
  let value = read();
  while (value.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = read();
  }
  return value;
}

const nestedArrays = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

describe('Hostile input: 400 problem+json, never 500, nothing created', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;
  let productId: string;
  let imageId: string;
  let adminId: string;
  let dataDir: string;

  async function counts(): Promise<Record<string, number>> {
    const [row] = await app.get(DataSource).query<Record<string, number>[]>(
      `SELECT (SELECT count(*)::int FROM products) AS products,
              (SELECT count(*)::int FROM users) AS users,
              (SELECT count(*)::int FROM api_keys) AS api_keys,
              (SELECT count(*)::int FROM images) AS images`,
    );
    return row;
  }

  function raw(method: InjectOptions['method'], url: string, payload: string, as = admin) {
    return app.inject({
      method,
      url,
      headers: { ...authHeaders(as), 'content-type': 'application/json' },
      payload,
    });
  }

  /** An upload titled `title`: refused 400 with `errors`, leaving no row and no file behind. */
  async function expectUploadRefused(title: string, errors: unknown): Promise<void> {
    const before = await counts();
    const media = filesBelow(join(dataDir, 'media'));
    const form = multipart({ title }, [
      { data: await solidJpeg(), contentType: 'image/jpeg', filename: 'a.jpg' },
    ]);
    const url = `/api/v1/products/${productId}/images`;
    const res = await call(app, 'POST', url, admin, form.payload, { headers: form.headers });
    expect(expectRefused(res, 400, 'validation_failed')).toEqual(errors);
    expect(await counts()).toEqual(before);
    expect(filesBelow(join(dataDir, 'media'))).toEqual(media);
  }

  /** An import of one row (`row` over a valid one): accepted, the row failed alone; its problem. */
  async function importedRowProblem(row: Record<string, unknown>): Promise<unknown> {
    const imported = await call(app, 'POST', '/api/v1/imports', admin, {
      rows: [{ product_id: productId, url: 'https://images.example.com/a.jpg', ...row }],
    });
    expect(imported.statusCode).toBe(202);
    const rows = await call(app, 'GET', `/api/v1/imports/${imported.json().id}/rows`, admin);
    const items = rows.json().items as { status: string; problem: unknown }[];
    expect(items.map((item) => item.status)).toEqual(['failed']);
    return items[0].problem;
  }

  beforeAll(async () => {
    // Login is one of the JSON routes each hostile body is sent to: more attempts from this one
    // address than LOGIN_RATE_LIMIT's default lets through (429 is not what these tests look at).
    t = await startTestApp({ LOGIN_RATE_LIMIT: '1000' });
    app = t.app;
    dataDir = t.db.env.DATA_DIR;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const product = await call(app, 'POST', '/api/v1/products', admin, {
      name: 'Shoe',
      slug: 'shoe',
      gtin: GTIN,
    });
    expect(product.statusCode).toBe(201);
    productId = product.json<{ id: string }>().id;
    const form = multipart({}, [
      { data: await solidJpeg(), contentType: 'image/jpeg', filename: 'a.jpg' },
    ]);
    const image = await call(
      app,
      'POST',
      `/api/v1/products/${productId}/images`,
      admin,
      form.payload,
      {
        headers: form.headers,
      },
    );
    expect(image.statusCode).toBe(201);
    imageId = image.json<{ id: string }>().id;
    adminId = (await call(app, 'GET', '/api/v1/auth/me', admin)).json<{ user: { id: string } }>()
      .user.id;
  });
  afterAll(() => t?.close());

  /** Each JSON route, with a body whose `field` (a path) carries the hostile value. */
  function jsonRoutes(): [string, InjectOptions['method'], string, Credential, string][] {
    const gallery = `/api/v1/products/${productId}/images`;
    return [
      ['login', 'POST', '/api/v1/auth/login', undefined, 'username'],
      ['create product', 'POST', '/api/v1/products', admin, 'name'],
      ['update product', 'PATCH', `/api/v1/products/${productId}`, admin, 'description'],
      ['create user', 'POST', '/api/v1/users', admin, 'full_name'],
      ['update user', 'PATCH', `/api/v1/users/${adminId}`, admin, 'full_name'],
      ['create API key', 'POST', '/api/v1/api-keys', admin, 'name'],
      ['attach image', 'POST', `${gallery}/attach`, admin, 'image_id'],
      ['attach image (JSON upload)', 'POST', gallery, admin, 'image_id'],
      ['update image', 'PATCH', `${gallery}/${imageId}`, admin, 'alt_text'],
      ['reorder images', 'PUT', `${gallery}/order`, admin, 'image_ids'],
      [
        'update image by GTIN',
        'PATCH',
        `/api/v1/products/by-gtin/${GTIN}/images/${imageId}`,
        admin,
        'title',
      ],
    ];
  }

  /** A body valid but for `field`, so that only the hostile value can be refused. */
  function bodyWith(route: string, field: string, value: unknown): Record<string, unknown> {
    const valid: Record<string, Record<string, unknown>> = {
      login: { username: 'admin', password: TEST_ADMIN.password },
      'create product': { name: 'Boot', slug: 'boot' },
      'create user': {
        email: 'hostile@test.example',
        username: 'hostile',
        password: TEST_PASSWORD,
        role: 'staff',
      },
      'create API key': { name: 'hostile' },
    };
    return { ...(valid[route] ?? {}), [field]: value };
  }

  /** `character` in a string of each JSON route's body: 400 validation_failed naming the field. */
  async function expectRefusedOnEveryJsonRoute(character: string, message: string): Promise<void> {
    for (const [route, method, url, as, field] of jsonRoutes()) {
      const value = field === 'image_ids' ? [imageId, `x${character}`] : `Sho${character}e`;
      const res = await call(app, method, url, as, bodyWith(route, field, value));
      const errors = expectRefused(res, 400, 'validation_failed');
      const expected = field === 'image_ids' ? 'image_ids.1' : field;
      expect({ route, errors }).toEqual({ route, errors: [{ field: expected, message }] });
    }
  }

  describe('a NUL character', () => {
    it('in any JSON string: 400 validation_failed naming the field, on every JSON route', async () => {
      const before = await counts();
      await expectRefusedOnEveryJsonRoute('\u0000', NUL_MESSAGE);
      // In a password (never stored, but refused all the same) and in a key.
      const password = await call(app, 'POST', '/api/v1/auth/login', undefined, {
        email: TEST_ADMIN.email,
        password: `${TEST_ADMIN.password}\u0000`,
      });
      expect(expectRefused(password, 400, 'validation_failed')).toEqual([
        { field: 'password', message: NUL_MESSAGE },
      ]);
      const key = await raw('POST', '/api/v1/products', '{"name":"Boot","sl\\u0000ug":"boot"}');
      expect(expectRefused(key, 400, 'validation_failed')).toEqual([
        { field: 'sl\\u0000ug', message: NUL_MESSAGE },
      ]);
      // The Ocha API's import refuses it too (its data URI is not base64).
      const imported = await call(app, 'PUT', `/api/v1/products/${productId}/image`, admin, {
        image: 'data:image/png;base64,\u0000',
      });
      expect(expectRefused(imported, 400, imported.json<{ code: string }>().code)).toEqual([
        expect.objectContaining({ field: 'image' }),
      ]);
      expect(await counts()).toEqual(before);
    });

    it('in a multipart form field: 400 validation_failed, no row, no file, no spool file', async () => {
      const before = await counts();
      const media = filesBelow(join(dataDir, 'media'));
      const jpeg = await solidJpeg();
      const uploads: [string, Record<string, string>, string][] = [
        [`/api/v1/products/${productId}/images`, { alt_text: 'a\u0000b' }, 'alt_text'],
        [`/api/v1/products/by-gtin/${GTIN}/images`, { title: '\u0000' }, 'title'],
        ['/api/v1/images', { purpose: 'product\u0000' }, 'purpose'],
      ];
      for (const [url, fields, field] of uploads) {
        const form = multipart(fields, [
          { data: jpeg, contentType: 'image/jpeg', filename: 'a.jpg' },
        ]);
        const res = await call(app, 'POST', url, admin, form.payload, { headers: form.headers });
        expect({ url, errors: expectRefused(res, 400, 'validation_failed') }).toEqual({
          url,
          errors: [{ field, message: NUL_MESSAGE }],
        });
      }
      expect(await counts()).toEqual(before);
      expect(filesBelow(join(dataDir, 'media'))).toEqual(media);
      // Spool files are removed as the request ends, which may be just after the response.
      expect(await settled(() => filesBelow(join(dataDir, 'tmp')))).toEqual([]);
    });

    it('in a query parameter a route reads: 400 validation_failed naming it', async () => {
      const queries: [string, string][] = [
        ['/api/v1/products?slug=sh%00oe', 'slug'],
        ['/api/v1/products?gtin=%00', 'gtin'],
        ['/api/v1/products?cursor=%00', 'cursor'],
        ['/api/v1/users?page=1%00', 'page'],
        ['/api/v1/api-keys?per_page=%0010', 'per_page'],
        [`/api/v1/products/${productId}/images?page=%00`, 'page'],
        [`/api/v1/products/by-gtin/${GTIN}/images?per_page=1%00`, 'per_page'],
        ['/api/v1/products?sl%00ug=shoe', 'sl\\u0000ug'],
      ];
      for (const [url, field] of queries) {
        const res = await call(app, 'GET', url, admin);
        expect({ url, errors: expectRefused(res, 400, 'validation_failed') }).toEqual({
          url,
          errors: [{ field, message: NUL_MESSAGE }],
        });
      }
    });

    it('in a query parameter no route reads (login, media): ignored, never a 500', async () => {
      const res = await call(app, 'POST', '/api/v1/auth/login?next=%00', undefined, {
        email: TEST_ADMIN.email,
        password: TEST_ADMIN.password,
      });
      expect(res.statusCode).toBe(200);
      const media = await call(app, 'GET', '/media/a%00.jpg?x=%00');
      expectRefused(media, 404, 'media_not_found');
    });
  });

  describe('control characters in text a person reads', () => {
    const ONE_LINE = 'must not contain control characters (tab and line breaks included)';
    const LINES =
      'must not contain control characters other than tab, line feed and carriage return';

    it('are refused in names, titles and alt text, and in descriptions but for tabs and line breaks', async () => {
      const before = await counts();
      const gallery = `/api/v1/products/${productId}/images`;
      const refused: [InjectOptions['method'], string, Record<string, unknown>, string][] = [
        ['POST', '/api/v1/products', { name: 'Sho\u001b[31me' }, `name ${ONE_LINE}`],
        [
          'POST',
          '/api/v1/products',
          { name: 'Boot', description: 'a\u0007b' },
          `description ${LINES}`,
        ],
        ['PATCH', `/api/v1/products/${productId}`, { name: 'Two\nlines' }, `name ${ONE_LINE}`],
        ['PATCH', `${gallery}/${imageId}`, { title: 'a\tb' }, `title ${ONE_LINE}`],
        ['PATCH', `${gallery}/${imageId}`, { alt_text: 'a\u0085b' }, `alt_text ${ONE_LINE}`],
        ['PATCH', `${gallery}/${imageId}`, { description: 'a\u007fb' }, `description ${LINES}`],
        // A person's name and a key's: shown in the console and the token API's answers.
        [
          'PATCH',
          `/api/v1/users/${adminId}`,
          { full_name: 'Ann\u001b]0;x\u0007' },
          `full_name ${ONE_LINE}`,
        ],
        [
          'POST',
          '/api/v1/api-keys',
          { name: 'PIM\r\njob', scopes: ['products:read'] },
          `name ${ONE_LINE}`,
        ],
      ];
      for (const [method, url, body, message] of refused) {
        const res = await call(app, method, url, admin, body);
        const field = message.split(' ')[0];
        expect({ body, errors: expectRefused(res, 400, 'validation_failed') }).toEqual({
          body,
          errors: [{ field, message }],
        });
      }
      expect(await counts()).toEqual(before);
      const described = await call(app, 'PATCH', `${gallery}/${imageId}`, admin, {
        title: 'Front – “quoted” ünïcode',
        description: 'First line\r\n\tindented second line',
      });
      expect(described.statusCode).toBe(200);
      expect(described.json()).toMatchObject({
        title: 'Front – “quoted” ünïcode',
        description: 'First line\r\n\tindented second line',
      });
    });

    it("are refused in an upload's fields and an import's rows, storing nothing", async () => {
      await expectUploadRefused('a\u0008b', [{ field: 'title', message: `title ${ONE_LINE}` }]);
      expect(await importedRowProblem({ alt_text: '\u0001' })).toMatchObject({
        code: 'invalid_import_row',
        message: expect.stringContaining(`alt_text ${ONE_LINE}`),
      });
    });
  });

  describe('a name that shows as nothing', () => {
    const INVISIBLE =
      'must contain a visible character, not only white space, invisible characters';
    // Each shows as nothing, as a blank name does: zero-width space, BOM, word joiner, soft
    // hyphen, a bidi override, combining marks with nothing to sit on, a Hangul filler, a
    // variation selector, the blank Braille pattern, mixed with ideographic and ordinary spaces.
    const names = [
      '\u200b',
      '\ufeff\u200b\ufeff',
      '\u2060',
      '\u00ad\u00ad',
      '\u202e',
      '\u0301\u0308',
      '\u3164',
      '\ufe0f',
      '\u2800',
      ' \u200b\u3000\u200d ',
    ];

    it("is refused 400 naming the field, as a blank name is, on a product's and a key's name", async () => {
      const before = await counts();
      const product = `/api/v1/products/${productId}`;
      for (const name of names) {
        const requests: [InjectOptions['method'], string, Record<string, unknown>][] = [
          ['POST', '/api/v1/products', { name, slug: 'invisible' }],
          ['PATCH', product, { name }],
          ['POST', '/api/v1/api-keys', { name, scopes: ['products:read'] }],
        ];
        for (const [method, url, body] of requests) {
          const res = await call(app, method, url, admin, body);
          expect({ url, name, errors: expectRefused(res, 400, 'validation_failed') }).toEqual({
            url,
            name,
            errors: [{ field: 'name', message: expect.stringContaining(`name ${INVISIBLE}`) }],
          });
        }
      }
      expect(await counts()).toEqual(before);
      expect((await call(app, 'GET', product, admin)).json()).toMatchObject({ name: 'Shoe' });
    });

    it('takes a name whose invisible characters sit beside visible ones', async () => {
      // An emoji sequence's joiners, a combining accent on its letter, a Persian non-joiner.
      const kept = ['👩\u200d👩\u200d👧 Family pack', 'Cafe\u0301', 'می\u200cخواهم'];
      for (const name of kept) {
        const res = await call(app, 'PATCH', `/api/v1/products/${productId}`, admin, { name });
        expect({ name, status: res.statusCode }).toEqual({ name, status: 200 });
        expect(res.json()).toMatchObject({ name });
      }
      const res = await call(app, 'PATCH', `/api/v1/products/${productId}`, admin, {
        name: 'Shoe',
      });
      expect(res.statusCode).toBe(200);
    });
  });

  describe('a title, alt text or full name that shows as nothing', () => {
    const INVISIBLE = (field: string) =>
      `${field} must be empty or contain a visible character, not only white space, invisible ` +
      'characters (zero-width spaces, bidi controls…) or combining marks';
    // Each shows as nothing: to a screen reader an alt text of them is no alt text, yet not the
    // empty one that marks an image decorative; a title or a name of them lists as blank.
    const invisible = ['\u200b', '\u202e', '\u2060\u00ad', ' \u200d\u3164 ', '\u0301'];

    /** The image's title and alt text as stored. */
    async function imageRow(id: string): Promise<Record<string, string>> {
      const [row] = await app
        .get(DataSource)
        .query<Record<string, string>[]>('SELECT title, alt_text FROM images WHERE id = $1', [
          decodeId(id),
        ]);
      return row;
    }

    it('is refused 400 naming the field on every route that takes it, changing nothing', async () => {
      const before = await counts();
      const stored = await imageRow(imageId);
      const image = `/api/v1/products/${productId}/images/${imageId}`;
      for (const text of invisible) {
        const requests: [InjectOptions['method'], string, Record<string, unknown>, string][] = [
          ['PATCH', image, { title: text }, 'title'],
          ['PATCH', image, { alt_text: text }, 'alt_text'],
          ['PATCH', `/api/v1/users/${adminId}`, { full_name: text }, 'full_name'],
          ['POST', '/api/v1/users', { ...bodyWith('create user', 'full_name', text) }, 'full_name'],
        ];
        for (const [method, url, body, field] of requests) {
          const res = await call(app, method, url, admin, body);
          expect({ url, text, errors: expectRefused(res, 400, 'validation_failed') }).toEqual({
            url,
            text,
            errors: [{ field, message: INVISIBLE(field) }],
          });
        }
      }
      expect(await counts()).toEqual(before);
      expect(await imageRow(imageId)).toEqual(stored);
      expect((await call(app, 'GET', '/api/v1/auth/me', admin)).json().user.full_name).toBe(
        'Administrator',
      );
    });

    it("is refused in an upload's fields and fails an import's row alone, storing nothing", async () => {
      await expectUploadRefused('\u200b\u200b', [{ field: 'title', message: INVISIBLE('title') }]);
      expect(await importedRowProblem({ alt_text: '\u200b' })).toMatchObject({
        code: 'invalid_import_row',
        message: expect.stringContaining(INVISIBLE('alt_text')),
      });
    });

    it('takes empty text, and text of white space only as empty, trimmed as names are', async () => {
      const image = `/api/v1/products/${productId}/images/${imageId}`;
      const blank = await call(app, 'PATCH', image, admin, { title: '  ', alt_text: '\u3000' });
      expect(blank.statusCode).toBe(200);
      expect(blank.json()).toMatchObject({ title: '', alt_text: '' });
      expect(await imageRow(imageId)).toEqual({ title: '', alt_text: '' });
      const text = await call(app, 'PATCH', image, admin, {
        title: ' Front ',
        alt_text: ' Cafe\u0301 cup, \u200bside view ',
      });
      expect(text.statusCode).toBe(200);
      expect(await imageRow(imageId)).toEqual({
        title: 'Front',
        alt_text: 'Cafe\u0301 cup, \u200bside view',
      });
      const renamed = await call(app, 'PATCH', `/api/v1/users/${adminId}`, admin, {
        full_name: ' Administrator ',
      });
      expect(renamed.statusCode).toBe(200);
      expect(renamed.json()).toMatchObject({ full_name: 'Administrator' });
    });
  });

  describe('a description that shows as nothing', () => {
    const INVISIBLE =
      'description must be empty or contain a visible character, not only white space, ' +
      'invisible characters (zero-width spaces, bidi controls…) or combining marks';

    async function descriptions(): Promise<{ image: string; product: string }> {
      const [row] = await app.get(DataSource).query<{ image: string; product: string }[]>(
        `SELECT i.description AS image, p.description AS product
           FROM images i JOIN products p ON p.id = i.product_id WHERE i.id = $1`,
        [decodeId(imageId)],
      );
      return row;
    }

    it("is refused 400 naming the field, an image's or a product's, changing nothing", async () => {
      const before = await counts();
      const stored = await descriptions();
      for (const text of ['\u200b', '\u202e\u2066', '\u2060\n\u00ad', '\u0301']) {
        const requests: [InjectOptions['method'], string, Record<string, unknown>][] = [
          ['PATCH', `/api/v1/products/${productId}/images/${imageId}`, { description: text }],
          ['PATCH', `/api/v1/products/${productId}`, { description: text }],
          ['POST', '/api/v1/products', { name: 'Invisible', description: text }],
        ];
        for (const [method, url, body] of requests) {
          const res = await call(app, method, url, admin, body);
          expect({ url, text, errors: expectRefused(res, 400, 'validation_failed') }).toEqual({
            url,
            text,
            errors: [{ field: 'description', message: INVISIBLE }],
          });
        }
      }
      expect(await counts()).toEqual(before);
      expect(await descriptions()).toEqual(stored);
    });

    it('takes white space only as empty, and any other text as sent', async () => {
      const image = `/api/v1/products/${productId}/images/${imageId}`;
      const product = `/api/v1/products/${productId}`;
      expect((await call(app, 'PATCH', image, admin, { description: ' \n\t ' })).statusCode).toBe(
        200,
      );
      expect((await call(app, 'PATCH', product, admin, { description: '\u3000' })).statusCode).toBe(
        200,
      );
      expect(await descriptions()).toEqual({ image: '', product: '' });
      const text = '  Two lines,\n  the second\u200b indented. ';
      await call(app, 'PATCH', image, admin, { description: text });
      await call(app, 'PATCH', product, admin, { description: text });
      expect(await descriptions()).toEqual({ image: text, product: text });
    });
  });

  describe('text counted as its column counts it (code points)', () => {
    // "❤️" is U+2764 U+FE0F: two characters for PostgreSQL's varchar, one for validator.js, which
    // leaves variation selectors out of its count. Just over each limit as the column counts.
    const over = (max: number) => '\u2764\ufe0f'.repeat(Math.ceil((max + 1) / 2));
    const tooLong = (field: string, max: number) =>
      `${field} must be shorter than or equal to ${max} characters`;

    it('is refused 400 naming the field when the column cannot hold it, never a 500', async () => {
      const before = await counts();
      const image = `/api/v1/products/${productId}/images/${imageId}`;
      const refused: [InjectOptions['method'], string, Record<string, unknown>, string, number][] =
        [
          ['POST', '/api/v1/products', { name: over(200) }, 'name', 200],
          ['PATCH', `/api/v1/products/${productId}`, { name: over(200) }, 'name', 200],
          ['PATCH', `/api/v1/users/${adminId}`, { full_name: over(200) }, 'full_name', 200],
          ['POST', '/api/v1/api-keys', { name: over(100) }, 'name', 100],
          ['PATCH', image, { title: over(255) }, 'title', 255],
          ['PATCH', image, { alt_text: over(1000) }, 'alt_text', 1000],
          ['PATCH', image, { description: over(5000) }, 'description', 5000],
        ];
      for (const [method, url, body, field, max] of refused) {
        const res = await call(app, method, url, admin, body);
        expect({ url, field, errors: expectRefused(res, 400, 'validation_failed') }).toEqual({
          url,
          field,
          errors: [{ field, message: tooLong(field, max) }],
        });
      }
      expect(await counts()).toEqual(before);
      // Characters outside the BMP (a surrogate pair each) count one each, up to the limit.
      const name = '😀'.repeat(200);
      const renamed = await call(app, 'PATCH', `/api/v1/products/${productId}`, admin, { name });
      expect(renamed.statusCode).toBe(200);
      expect(renamed.json().name).toBe(name);
    });

    it("is refused in an upload's fields and fails an import's row alone, storing nothing", async () => {
      await expectUploadRefused(over(255), [{ field: 'title', message: tooLong('title', 255) }]);
      expect(await importedRowProblem({ title: over(255) })).toMatchObject({
        code: 'invalid_import_row',
        message: expect.stringContaining(tooLong('title', 255)),
      });
    });
  });

  describe('a lone surrogate (half of a UTF-16 pair, "\\ud800" in JSON)', () => {
    it('in any JSON string: 400 validation_failed naming the field, never stored as U+FFFD', async () => {
      const before = await counts();
      await expectRefusedOnEveryJsonRoute('\udc00', SURROGATE_MESSAGE);
      expect(await counts()).toEqual(before);
    });

    it('in an email, before the session (login) and after it (a new user): 400, not a 500', async () => {
      // class-validator's IsEmail throws URIError on such a string: it must never reach it.
      for (const email of ['\ud800@example.com', 'a@exa\udfffmple.com']) {
        const login = await call(app, 'POST', '/api/v1/auth/login', undefined, {
          email,
          password: TEST_ADMIN.password,
        });
        expect(expectRefused(login, 400, 'validation_failed')).toEqual([
          { field: 'email', message: SURROGATE_MESSAGE },
        ]);
        const user = await call(app, 'POST', '/api/v1/users', admin, {
          ...bodyWith('create user', 'email', email),
        });
        expect(expectRefused(user, 400, 'validation_failed')).toEqual([
          { field: 'email', message: SURROGATE_MESSAGE },
        ]);
      }
    });
  });

  describe('bytes that are not UTF-8 in a JSON body', () => {
    it('are refused on every JSON route (400 malformed_json), never stored as U+FFFD', async () => {
      const before = await counts();
      // Windows-1252 "è", a stray continuation byte, the UTF-8 form of a lone surrogate (CESU-8).
      for (const bytes of [[0xe8], [0x80], [0xed, 0xa0, 0x80]]) {
        for (const [route, method, url, as, field] of jsonRoutes()) {
          const marker = 'MARKER';
          const text = JSON.stringify(
            bodyWith(route, field, field === 'image_ids' ? [imageId, marker] : marker),
          );
          const [head, tail] = text.split(marker);
          const payload = Buffer.concat([Buffer.from(head), Buffer.from(bytes), Buffer.from(tail)]);
          const res = await app.inject({
            method,
            url,
            headers: { ...authHeaders(as), 'content-type': 'application/json' },
            payload,
          });
          expect({ route, bytes, status: res.statusCode, code: res.json().code }).toEqual({
            route,
            bytes,
            status: 400,
            code: 'malformed_json',
          });
        }
      }
      expect(await counts()).toEqual(before);
      // Well-formed UTF-8 beyond ASCII is taken as it is.
      const res = await raw(
        'POST',
        '/api/v1/products',
        JSON.stringify({ name: 'Crème brûlée 🍮' }),
      );
      expect(res.statusCode).toBe(201);
      expect(res.json().name).toBe('Crème brûlée 🍮');
    });

    it('are refused in a data-URI import too, which reads its body as a stream: nothing stored', async () => {
      const before = await counts();
      const media = filesBelow(join(dataDir, 'media'));
      const uri = `data:image/jpeg;base64,${(await solidJpeg()).toString('base64')}`;
      for (const payload of [
        // In the data URI's parameters (a file name), and in a field of the rest of the body.
        Buffer.concat([
          Buffer.from('{"image": "data:image/jpeg;name=caf'),
          Buffer.from([0xe9]),
          Buffer.from(`;${uri.slice('data:image/jpeg;'.length)}"}`),
        ]),
        Buffer.concat([
          Buffer.from(`{"image": "${uri}", "x`),
          Buffer.from([0xe9]),
          Buffer.from('": 1}'),
        ]),
      ]) {
        const res = await app.inject({
          method: 'PUT',
          url: `/api/v1/products/${productId}/image`,
          headers: { ...authHeaders(admin), 'content-type': 'application/json' },
          payload,
        });
        expect({ status: res.statusCode, code: res.json().code }).toEqual({
          status: 400,
          code: 'malformed_json',
        });
      }
      expect(await counts()).toEqual(before);
      expect(filesBelow(join(dataDir, 'media'))).toEqual(media);
      expect(await settled(() => filesBelow(join(dataDir, 'tmp')))).toEqual([]);
    });
  });

  describe('a multipart body on a route that takes JSON', () => {
    it('is refused 415 on every JSON route, with or without a boundary, and changes nothing', async () => {
      const before = await counts();
      const image = await call(
        app,
        'GET',
        `/api/v1/products/${productId}/images/${imageId}`,
        admin,
      );
      // The gallery's POST takes multipart (an upload) as well as JSON: it is not one of these.
      const routes = jsonRoutes().filter(([route]) => route !== 'attach image (JSON upload)');
      for (const [route, method, url, as, field] of routes) {
        const form = multipart(bodyWith(route, field, 'Changed') as Record<string, string>, []);
        for (const contentType of [form.headers['content-type'], 'multipart/form-data']) {
          const res = await app.inject({
            method,
            url,
            headers: { ...authHeaders(as), 'content-type': contentType },
            payload: form.payload,
          });
          expect({ route, contentType, status: res.statusCode }).toEqual({
            route,
            contentType,
            status: 415,
          });
          expectRefused(res, 415, 'unsupported_media_type');
        }
      }
      expect(await counts()).toEqual(before);
      const after = await call(
        app,
        'GET',
        `/api/v1/products/${productId}/images/${imageId}`,
        admin,
      );
      expect(after.json()).toEqual(image.json());
    });
  });

  describe('a body on a route that takes none', () => {
    /** Every DELETE, and every POST without a request body, in the document. */
    function bodilessRoutes(): [InjectOptions['method'], string][] {
      const values: Record<string, string> = {
        productId,
        imageId,
        id: adminId,
        gtin: GTIN,
        externalId: 'no-such-product',
        importId: productId,
      };
      const document = JSON.parse(
        readFileSync(join(__dirname, '..', '..', 'openapi.json'), 'utf8'),
      ) as { paths: Record<string, Record<string, { requestBody?: unknown }>> };
      return Object.entries(document.paths).flatMap(([path, operations]) =>
        Object.entries(operations)
          .filter(([method, op]) => method === 'delete' || (method === 'post' && !op.requestBody))
          .map(([method, _]): [InjectOptions['method'], string] => [
            method.toUpperCase() as InjectOptions['method'],
            path.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? 'x'),
          ]),
      );
    }

    it('is refused 415 as documented, whatever its type or coding, and changes nothing', async () => {
      const before = await counts();
      const gallery = await call(app, 'GET', `/api/v1/products/${productId}/images`, admin);
      const routes = bodilessRoutes();
      expect(routes.length).toBeGreaterThanOrEqual(12);
      const form = multipart({ title: 'x' }, []);
      const bodies: [string, Record<string, string>, string | Buffer][] = [
        ['multipart', form.headers, form.payload],
        ['xml', { 'content-type': 'application/xml' }, '<a/>'],
        [
          'gzip',
          { 'content-type': 'application/json', 'content-encoding': 'gzip' },
          gzipSync('{}'),
        ],
      ];
      for (const [method, url] of routes) {
        for (const [kind, headers, payload] of bodies) {
          const res = await app.inject({
            method,
            url,
            headers: { ...authHeaders(admin), ...headers },
            payload,
          });
          expect({ method, url, kind, status: res.statusCode }).toEqual({
            method,
            url,
            kind,
            status: 415,
          });
          expectRefused(res, 415, 'unsupported_media_type');
        }
      }
      expect(await counts()).toEqual(before);
      const after = await call(app, 'GET', `/api/v1/products/${productId}/images`, admin);
      expect(after.json()).toEqual(gallery.json());
    });

    it('is not read on a GET, which is answered as without it', async () => {
      const res = await app.inject({
        method: 'GET',
        url: `/api/v1/products/${productId}`,
        headers: {
          ...authHeaders(admin),
          'content-type': 'application/json',
          'content-encoding': 'gzip',
        },
        payload: gzipSync('{}'),
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ id: productId });
    });
  });

  describe('a body with a Content-Encoding', () => {
    it('is refused 415 unread, JSON or upload, and creates nothing; identity is no coding', async () => {
      const before = await counts();
      const json = Buffer.from(JSON.stringify({ name: 'Zipped', slug: 'zipped' }));
      const zipped = await app.inject({
        method: 'POST',
        url: '/api/v1/products',
        headers: {
          ...authHeaders(admin),
          'content-type': 'application/json',
          'content-encoding': 'gzip',
        },
        payload: gzipSync(json),
      });
      expectRefused(zipped, 415, 'unsupported_media_type');
      const form = multipart({}, [{ data: await solidJpeg(), contentType: 'image/jpeg' }]);
      const upload = await app.inject({
        method: 'POST',
        url: `/api/v1/products/${productId}/images`,
        headers: { ...authHeaders(admin), ...form.headers, 'content-encoding': 'identity, br' },
        payload: form.payload,
      });
      expectRefused(upload, 415, 'unsupported_media_type');
      // Who may not use the route learns that first, as without the coding.
      const anonymous = await app.inject({
        method: 'POST',
        url: '/api/v1/products',
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        payload: gzipSync(json),
      });
      expect(anonymous.statusCode).toBe(401);
      expect(await counts()).toEqual(before);
      expect(filesBelow(join(dataDir, 'tmp', 'uploads'))).toEqual([]);

      const plain = await app.inject({
        method: 'POST',
        url: '/api/v1/products',
        headers: {
          ...authHeaders(admin),
          'content-type': 'application/json',
          'content-encoding': 'Identity',
        },
        payload: json,
      });
      expect(plain.statusCode).toBe(201);
    });
  });

  describe('pagination', () => {
    it('refuses a page whose offset would overflow, naming page, per_page or limit', async () => {
      const queries: [string, string, string][] = [
        ['/api/v1/users?page=1e20', 'page', 'page must be an integer from 1 to 100000'],
        ['/api/v1/api-keys?page=1e20', 'page', 'page must be an integer from 1 to 100000'],
        ['/api/v1/api-keys?page=100001', 'page', 'page must be an integer from 1 to 100000'],
        [
          `/api/v1/products/${productId}/images?page=1e20`,
          'page',
          'page must be an integer from 1 to 100000',
        ],
        [
          `/api/v1/products/by-gtin/${GTIN}/images?page=9007199254740993`,
          'page',
          'page must be an integer from 1 to 100000',
        ],
        ['/api/v1/users?per_page=1e20', 'per_page', 'per_page must be an integer from 1 to 100'],
        ['/api/v1/api-keys?per_page=abc', 'per_page', 'per_page must be an integer from 1 to 100'],
        ['/api/v1/products?limit=1e20', 'limit', 'limit must be an integer from 1 to 100'],
        // Numbers only as decimal digits: not hex, binary, an exponent, a sign or padding, which
        // would land a garbled parameter on another page.
        ...['0x10', '0b11', '1e1', '%2B1', '%201', '1.0', '-1'].map(
          (value): [string, string, string] => [
            `/api/v1/users?page=${value}`,
            'page',
            'page must be an integer from 1 to 100000',
          ],
        ),
        [
          `/api/v1/products/${productId}/images?per_page=0x10`,
          'per_page',
          'per_page must be an integer from 1 to 500',
        ],
        ['/api/v1/products?limit=0x10', 'limit', 'limit must be an integer from 1 to 100'],
      ];
      for (const [url, field, message] of queries) {
        const res = await call(app, 'GET', url, admin);
        expect({ url, errors: expectRefused(res, 400, 'validation_failed') }).toEqual({
          url,
          errors: [{ field, message }],
        });
      }
      const last = await call(app, 'GET', '/api/v1/users?page=100000&per_page=100', admin);
      expect(last.statusCode).toBe(200);
      expect(last.json()).toMatchObject({ items: [], page: 100000 });
    });

    it('refuses a forged cursor whose date PostgreSQL cannot hold', async () => {
      for (const date of ['-271821-04-20T00:00:00.000Z', '+275760-09-13T00:00:00.000Z']) {
        const cursor = Buffer.from(
          JSON.stringify([date, '7c9e6679-7425-40de-944b-e07fc1f90ae7', 'products']),
        ).toString('base64url');
        const res = await call(app, 'GET', `/api/v1/products?cursor=${cursor}`, admin);
        expect(expectRefused(res, 400, 'invalid_cursor')).toEqual([
          { field: 'cursor', message: 'is not a valid cursor' },
        ]);
      }
    });
  });

  describe('a JSON body that is no object', () => {
    it('is refused on every JSON route, saying what it is, and changes nothing', async () => {
      const before = await counts();
      const kinds: [string, string][] = [
        ['[]', 'a list'],
        ['5', 'a number'],
        ['"a"', 'a string'],
        ['false', 'false'],
        ['null', 'null'],
      ];
      for (const [route, method, url, as] of jsonRoutes()) {
        for (const [payload, what] of kinds) {
          const errors = expectRefused(
            await raw(method, url, payload, as),
            400,
            'validation_failed',
          );
          expect({ route, payload, errors }).toEqual({
            route,
            payload,
            errors: [{ field: 'body', message: `must be a JSON object, not ${what}` }],
          });
        }
      }
      expect(await counts()).toEqual(before);
    });
  });

  describe('JSON nested 5000 levels deep', () => {
    it('is refused on every JSON route, naming where, before anything reads it', async () => {
      const before = await counts();
      const deep = nestedArrays(5000);
      for (const [route, method, url, as, field] of jsonRoutes()) {
        const body = JSON.stringify(bodyWith(route, field, 'x')).replace('"x"', deep);
        const res = await raw(method, url, body, as);
        const errors = expectRefused(res, 400, 'validation_failed');
        expect({ route, errors }).toEqual({
          route,
          errors: [
            {
              field: [field, ...Array<string>(MAX_JSON_DEPTH - 1).fill('0')].join('.'),
              message: DEPTH_MESSAGE,
            },
          ],
        });
      }
      const imported = await raw('PUT', `/api/v1/products/${productId}/image`, `[${deep}]`);
      expect(expectRefused(imported, 400, 'validation_failed')[0].message).toBe(DEPTH_MESSAGE);
      const objects = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
      const login = await raw('POST', '/api/v1/auth/login', objects, undefined);
      expect(expectRefused(login, 400, 'validation_failed')[0].field).toMatch(/^a\.a\.a/);
      expect(await counts()).toEqual(before);
    });

    it(`accepts ${MAX_JSON_DEPTH} levels (then the DTO decides)`, async () => {
      const body = `{"name":"Boot","slug":"boot","description":${nestedArrays(MAX_JSON_DEPTH - 1)}}`;
      const res = await raw('POST', '/api/v1/products', body);
      expect(expectRefused(res, 400, 'validation_failed')).toContainEqual({
        field: 'description',
        message: 'description must be a string',
      });
    });
  });

  describe('a JSON object of 90,000 properties (under 1 MiB)', () => {
    // Each would hold the event loop for seconds as class-transformer copies it (see
    // MAX_OBJECT_FIELDS), login's without a session: refused by their number, before the copy.
    const crowded = (count: number) =>
      `{${Array.from({ length: count }, (_, i) => `"${i.toString(36)}":0`).join(',')}}`;

    it('is refused on every JSON route by their number, naming where, and changes nothing', async () => {
      const before = await counts();
      const many = crowded(90_000);
      const message = `has 90000 properties, more than the ${MAX_OBJECT_FIELDS} read`;
      for (const [route, method, url, as, field] of jsonRoutes()) {
        const whole = await raw(method, url, many, as);
        expect({ route, errors: expectRefused(whole, 400, 'validation_failed') }).toEqual({
          route,
          errors: [{ field: 'body', message }],
        });
        const body = JSON.stringify(bodyWith(route, field, 'x')).replace('"x"', many);
        const nested = await raw(method, url, body, as);
        expect({ route, errors: expectRefused(nested, 400, 'validation_failed') }).toEqual({
          route,
          errors: [{ field, message }],
        });
      }
      expect(await counts()).toEqual(before);
    });
  });

  describe("the router's own refusals", () => {
    const badEncoding = '%E0%A4%A';
    const long = 'a'.repeat(1000);

    it('bad percent-encoding in a path parameter: 400 malformed_url, the URL not echoed', async () => {
      const urls: [InjectOptions['method'], string][] = [
        ['GET', `/api/v1/products/${badEncoding}`],
        ['PATCH', `/api/v1/products/${badEncoding}`],
        ['GET', `/api/v1/products/by-gtin/${badEncoding}`],
        ['PATCH', `/api/v1/users/${badEncoding}`],
        ['DELETE', `/api/v1/api-keys/${badEncoding}`],
        ['GET', `/api/v1/products/${productId}/images/${badEncoding}`],
        ['POST', `/api/v1/products/${badEncoding}/images`],
        ['PUT', `/api/v1/products/by-gtin/${badEncoding}/image`],
      ];
      for (const [method, url] of urls) {
        const res = await call(app, method, url, undefined, undefined, {
          headers: { 'x-request-id': 'hostile-probe-1' },
        });
        expect({ url, errors: expectRefused(res, 400, 'malformed_url') }).toEqual({
          url,
          errors: [{ field: 'path', message: 'contains an invalid percent-encoded sequence' }],
        });
        expect(res.headers['x-request-id']).toBe('hostile-probe-1');
        expect(res.body).not.toContain(badEncoding);
        expect(res.body).not.toContain('/api/v1');
      }
      const media = await call(app, 'GET', `/media/${badEncoding}`);
      expectRefused(media, 400, 'malformed_url');
    });

    it('a 1000-character path parameter: 400 malformed_url (404 under /media)', async () => {
      const urls: [InjectOptions['method'], string][] = [
        ['GET', `/api/v1/products/${long}`],
        ['GET', `/api/v1/products/by-gtin/${long}/images`],
        ['GET', `/api/v1/users/${long}`],
        ['DELETE', `/api/v1/api-keys/${long}`],
        ['PATCH', `/api/v1/products/${productId}/images/${long}`],
      ];
      for (const [method, url] of urls) {
        const res = await call(app, method, url, admin);
        expect({ url, errors: expectRefused(res, 400, 'malformed_url') }).toEqual({
          url,
          errors: [{ field: 'path', message: 'has a parameter longer than 512 characters' }],
        });
        expect(res.body).not.toContain(long.slice(0, 100));
      }
      expectRefused(await call(app, 'GET', `/media/${long}.jpg`), 404, 'media_not_found');
    });

    it('a malformed Content-Type on login: 415 problem+json', async () => {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        headers: { 'content-type': ';;;' },
        payload: '{}',
      });
      expectRefused(res, 415, 'unsupported_media_type');
    });
  });

  describe('a redirect to the canonical spelling of a URL (over HTTP, the path as sent)', () => {
    let port: number;
    // app.inject resolves dot segments (%2e%2e included) before the service sees the URL.
    const rawGet = (path: string) =>
      new Promise<IncomingMessage & { body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve(Object.assign(res, { body })));
        });
        req.on('error', reject);
        req.end();
      });

    beforeAll(async () => {
      await app.listen({ port: 0, host: '127.0.0.1' });
      port = (app.getHttpServer().address() as AddressInfo).port;
    });

    it('never leads out of the transform URLs: dot segments are refused, not redirected', async () => {
      const refused: [string, number, string][] = [
        [`/transform/unsigned/p_thumb,f_webp/%2e%2e`, 400, 'invalid_id'],
        [`/transform/unsigned/%2e/${imageId}`, 400, 'transform_invalid'],
        [`/transform/unsigned/%2E%2e/${imageId}`, 400, 'transform_invalid'],
        // A client would follow /transform/../../health to /health.
        [`/transform/%2e%2e/%2e%2e/health`, 400, 'transform_invalid'],
        [`/transform/%2e/p_thumb/${imageId}`, 403, 'transform_signature_invalid'],
      ];
      for (const [path, status, code] of refused) {
        const res = await rawGet(path);
        expect({ path, status: res.statusCode, location: res.headers.location }).toEqual({
          path,
          status,
          location: undefined,
        });
        expect(res.headers['content-type']).toMatch(PROBLEM);
        expect({ path, code: (JSON.parse(res.body) as { code: string }).code }).toEqual({
          path,
          code,
        });
      }
      // Percent-encoding that needs none is still a 308 to a URL that resolves to itself.
      const res = await rawGet(`/transform/unsigned/%70_thumb/${imageId}?w=1`);
      expect(res.statusCode).toBe(308);
      const location = new URL(res.headers.location as string);
      expect(location.href).toBe(res.headers.location);
      expect(`${location.pathname}${location.search}`).toBe(
        `/transform/unsigned/p_thumb/${imageId}?w=1`,
      );
    });

    it('reads a fragment sent in the request line as the router does: neither path nor query', async () => {
      // A fragment is no part of an HTTP request target; the router ends the path at "#".
      const image = await call(
        app,
        'GET',
        `/api/v1/products/${productId}/images/${imageId}`,
        admin,
      );
      const media = new URL(image.json<{ url: string }>().url).pathname;
      const transform = `/transform/unsigned/p_thumb/${imageId}`;
      for (const path of [`${media}#frag`, `${transform}#frag?w=1`]) {
        const res = await rawGet(path);
        expect({ path, status: res.statusCode, location: res.headers.location }).toEqual({
          path,
          status: 200,
          location: undefined,
        });
      }
      const encoded = [
        [`/media/%${media.charCodeAt(7).toString(16)}${media.slice(8)}#f?x=1`, media],
        [`/transform/unsigned/%70_thumb/${imageId}#f?w=1`, transform],
      ];
      for (const [path, canonical] of encoded) {
        const res = await rawGet(path);
        expect({ path, status: res.statusCode }).toEqual({ path, status: 308 });
        const location = new URL(res.headers.location as string);
        expect({ path, location: `${location.pathname}${location.search}` }).toEqual({
          path,
          location: canonical,
        });
      }
    });
  });
});

describe('/media serves only the images the service stored', () => {
  const P = '0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e';
  const I = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
  let t: TestApp;
  let storageDir: string;

  beforeAll(async () => {
    storageDir = mkdtempSync(join(tmpdir(), 'pis-media-'));
    const files: Record<string, string | Buffer> = {
      'jwt-secret': 'a-secret-that-must-never-be-served',
      'notes.txt': 'private notes',
      'pglite/PG_VERSION': '18',
      'tmp/uploads/x.upload': 'half an upload',
      '.tmp/x.part': 'half a file',
      [`products/${P}/${I}/original.html`]: '<script>alert(1)</script>',
      [`products/${P}/${I}/original.jpg`]: await solidJpeg(),
      [`uploads/${I}/thumb.webp.bak`]: 'backup',
    };
    for (const [key, content] of Object.entries(files)) {
      mkdirSync(dirname(join(storageDir, key)), { recursive: true });
      writeFileSync(join(storageDir, key), content);
    }
    t = await startTestApp({ STORAGE_LOCAL_DIR: storageDir });
  });
  afterAll(async () => {
    await t?.close();
    rmSync(storageDir, { recursive: true, force: true });
  });

  it('404s every other file, even one that exists there', async () => {
    for (const key of [
      'jwt-secret',
      'notes.txt',
      'pglite/PG_VERSION',
      'tmp/uploads/x.upload',
      '.tmp/x.part',
      `products/${P}/${I}/original.html`,
      `uploads/${I}/thumb.webp.bak`,
    ]) {
      const res = await t.app.inject({ method: 'GET', url: `/media/${key}` });
      expect({ key, status: res.statusCode }).toEqual({ key, status: 404 });
      expectRefused(res, 404, 'media_not_found');
      expect(res.body).not.toMatch(/secret-that|private notes|script/);
    }
  });

  it('serves a file whose key has the shape of an image key', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/media/products/${P}/${I}/original.jpg`,
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('image/jpeg');
  });
});

describe('a storage folder overlapping DATA_DIR', () => {
  it('stops start-up, naming STORAGE_LOCAL_DIR and DATA_DIR, before anything is served', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pis-datadir-'));
    try {
      for (const storageDir of [dataDir, join(dataDir, 'tmp'), join(dataDir, 'pglite', 'x')]) {
        const outcome = await startTestApp({
          DATA_DIR: dataDir,
          STORAGE_LOCAL_DIR: storageDir,
        }).then(
          async (started) => {
            await started.close();
            return 'started';
          },
          (error: Error) => error.message,
        );
        expect(outcome).toMatch(
          /STORAGE_LOCAL_DIR: must not be DATA_DIR, nor contain or lie inside DATA_DIR's private parts/,
        );
        expect(outcome).toMatch(/overlaps DATA_DIR\/(pglite|tmp)\./);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
