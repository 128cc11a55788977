import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import * as net from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Response as InjectResponse } from 'light-my-request';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { Role } from '../../src/auth/roles';
import { IdempotencyKeySweeper } from '../../src/idempotency/idempotency-key-sweeper';
import { filesBelow, otherOrganisationAdmin } from '../support/accounts';
import { eventually } from '../support/eventually';
import { solidJpeg } from '../support/fixtures';
import { authHeaders, call, login, type Credential } from '../support/http';
import { guardedConnect } from '../support/loopback-guard';
import { multipart } from '../support/multipart';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { theWorkOnce } from '../support/idempotent-answers';

/**
 * The Idempotency-Key header on the operations that make something: a gallery upload, the
 * Ocha API's JSON import, a stand-alone upload, attaching one, a bulk import, and a product. A retry gets
 * the first answer again (status, body, Location, Content-Type) and nothing is made twice;
 * the same key still in flight is 409, with another payload 422; keys are per caller and expire;
 * and two instances on one database share them.
 */

type Send = (key: string | undefined, credential?: Credential) => Promise<InjectResponse>;

/** What the operations made: rows, and the files under the local storage. */
interface Made {
  images: number;
  /** Images in a gallery (an attach makes one of a stand-alone image). */
  inGalleries: number;
  imports: number;
  importRows: number;
  files: Set<string>;
}

/** A CSV for a bulk import: rows naming no product of the test (they fail, fetching nothing). */
const csv = (n: number, tag = 'a') =>
  'gtin,url,title\n' +
  Array.from(
    { length: n },
    (_, i) => `4006381333931,http://127.0.0.1:9/${tag}${i}.png,${tag}\n`,
  ).join('');

describe('Idempotent retries (Idempotency-Key)', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let ds: DataSource;
  let admin: Credential;
  let staffKey: Credential;
  let jpeg: Buffer;
  let otherJpeg: Buffer;

  beforeAll(async () => {
    jest.spyOn(net.Socket.prototype, 'connect').mockImplementation(guardedConnect);
    t = await startTestApp();
    app = t.app;
    ds = app.get(DataSource);
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const key = await call(app, 'POST', '/api/v1/api-keys', admin, {
      name: 'staff',
      role: Role.Staff,
    });
    staffKey = { apiKey: key.json<{ key: string }>().key };
    jpeg = await solidJpeg(96, 64);
    otherJpeg = await solidJpeg(64, 96);
  });

  afterAll(async () => {
    await t?.close();
    jest.restoreAllMocks();
  });

  async function made(): Promise<Made> {
    const [rows] = await ds.query<Omit<Made, 'files'>[]>(
      `SELECT (SELECT count(*)::int FROM images) AS images,
              (SELECT count(*)::int FROM images WHERE product_id IS NOT NULL) AS "inGalleries",
              (SELECT count(*)::int FROM imports) AS imports,
              (SELECT count(*)::int FROM import_rows) AS "importRows"`,
    );
    const files = new Set(filesBelow(join(t.db.env.DATA_DIR, 'media')));
    return { ...rows, files };
  }

  /** Nothing was made between the two: the same rows, and no file that was not there. */
  function expectNothingMade(before: Made, after: Made): void {
    expect({ ...after, files: undefined }).toEqual({ ...before, files: undefined });
    expect([...after.files].filter((file) => !before.files.has(file))).toEqual([]);
  }

  async function newProduct(name = 'Idempotent'): Promise<string> {
    const res = await call(app, 'POST', '/api/v1/products', admin, { name });
    expect(res.statusCode).toBe(201);
    return res.json<{ id: string }>().id;
  }

  async function standaloneUpload(): Promise<string> {
    const body = multipart({ purpose: 'product' }, [{ data: jpeg, contentType: 'image/jpeg' }]);
    const res = await call(app, 'POST', '/api/v1/images', admin, body.payload, {
      headers: body.headers,
    });
    expect(res.statusCode).toBe(201);
    return res.json<{ id: string }>().id;
  }

  const keyHeader = (key: string | undefined) =>
    key === undefined ? {} : { 'idempotency-key': key };

  /** A gallery upload; its multipart body is encoded anew (a new boundary) for every call. */
  function galleryUpload(
    product: string,
    fields: Record<string, string> = { title: 'Front' },
    file = jpeg,
    target: NestFastifyApplication = app,
  ): Send {
    return (key, credential = admin) => {
      const body = multipart(fields, [
        { data: file, contentType: 'image/jpeg', filename: 'a.jpg' },
      ]);
      return call(target, 'POST', `/api/v1/products/${product}/images`, credential, body.payload, {
        headers: { ...body.headers, ...keyHeader(key) },
      });
    };
  }

  function jsonRequest(
    method: 'POST' | 'PUT',
    url: string,
    body: object,
    contentType = 'application/json',
  ): Send {
    return (key, credential = admin) =>
      call(app, method, url, credential, JSON.stringify(body), {
        headers: { 'content-type': contentType, ...keyHeader(key) },
      });
  }

  function csvImport(text: string, target: NestFastifyApplication = app): Send {
    return (key, credential = admin) =>
      call(target, 'POST', '/api/v1/imports', credential, text, {
        headers: { 'content-type': 'text/csv', ...keyHeader(key) },
      });
  }

  /** The five operations, each on things of its own, with the status of their success. */
  const OPERATIONS: [string, number, () => Promise<Send>][] = [
    ['a gallery upload (multipart)', 201, async () => galleryUpload(await newProduct())],
    [
      "the Ocha API's JSON import (a data URI)",
      200,
      async () => {
        const png = await sharp(jpeg).png().toBuffer();
        return jsonRequest('PUT', `/api/v1/products/${await newProduct()}/image`, {
          image: `data:image/png;base64,${png.toString('base64')}`,
        });
      },
    ],
    [
      'a stand-alone upload (multipart)',
      201,
      async () =>
        async (key, credential = admin) => {
          const body = multipart({ purpose: 'account', title: 'Logo' }, [
            { data: jpeg, contentType: 'image/jpeg' },
          ]);
          return call(app, 'POST', '/api/v1/images', credential, body.payload, {
            headers: { ...body.headers, ...keyHeader(key) },
          });
        },
    ],
    [
      'attaching a stand-alone upload (JSON)',
      201,
      async () =>
        jsonRequest('POST', `/api/v1/products/${await newProduct()}/images/attach`, {
          image_id: await standaloneUpload(),
          title: 'Attached',
        }),
    ],
    ['a bulk import (CSV)', 202, async () => csvImport(csv(3))],
  ];

  it.each(OPERATIONS)(
    '%s: a retry gets the first answer again, and nothing is made twice',
    async (_name, status, prepare) => {
      const send = await prepare();
      const key = randomUUID();
      const before = await made();
      const first = await send(key);
      expect(first.statusCode).toBe(status);
      const afterFirst = await made();
      expect(afterFirst).not.toEqual(before);

      const retries = [await send(key), await send(`"${key}"`)];
      for (const retry of retries) {
        expect(retry.statusCode).toBe(status);
        expect(retry.body).toBe(first.body);
        expect(retry.headers['content-type']).toBe(first.headers['content-type']);
        expect(retry.headers.location).toBe(first.headers.location);
      }
      expectNothingMade(afterFirst, await made());

      // Without the key, the same request is done again (an attach is then refused: attached).
      expect((await send(undefined)).body).not.toBe(first.body);
    },
  );

  it('a product creation: a retry gets the first answer again, and one product is made', async () => {
    const name = `Retried ${randomUUID()}`;
    const named = async () =>
      (
        await ds.query<{ n: number }[]>('SELECT count(*)::int AS n FROM products WHERE name = $1', [
          name,
        ])
      )[0].n;
    const send = jsonRequest('POST', '/api/v1/products', { name });
    const key = randomUUID();
    const first = await send(key);
    expect(first.statusCode).toBe(201);
    for (const retry of [await send(key), await send(`"${key}"`)]) {
      expect(retry.statusCode).toBe(201);
      expect(retry.body).toBe(first.body);
      expect(retry.headers.location).toBe(first.headers.location);
    }
    expect(await named()).toBe(1);
    const other = await jsonRequest('POST', '/api/v1/products', { name: `${name}!` })(key);
    expect(other.statusCode).toBe(422);
    expect(other.json()).toMatchObject({ code: 'idempotency_key_reused' });
    // Without the key, the same request makes another product (its slug numbered).
    expect((await send(undefined)).statusCode).toBe(201);
    expect(await named()).toBe(2);
  });

  it("an API key's creation: a retry makes no second key, and is told the key's id, never its secret", async () => {
    const name = `Retried key ${randomUUID()}`;
    const send = jsonRequest('POST', '/api/v1/api-keys', { name, role: Role.User });
    const key = randomUUID();
    const first = await send(key);
    expect(first.statusCode).toBe(201);
    const created = first.json<{ id: string; key: string }>();
    const secret = created.key.slice(-43);
    for (const retry of [await send(key), await send(`"${key}"`)]) {
      expect(retry.statusCode).toBe(409);
      expect(retry.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(retry.json()).toMatchObject({
        code: 'api_key_already_created',
        api_key_id: created.id,
        // This retry's own, as on every other problem: not the first request's, nor none.
        request_id: retry.headers['x-request-id'],
      });
      expect(retry.headers['x-request-id']).not.toBe(first.headers['x-request-id']);
      expect(retry.headers.location).toBe(first.headers.location);
      expect(retry.body).not.toContain(secret);
    }
    const [{ n }] = await ds.query<{ n: number }[]>(
      'SELECT count(*)::int AS n FROM api_keys WHERE name = $1',
      [name],
    );
    expect(n).toBe(1);
    // Nothing of the secret is kept with the key's record, in any form.
    const [stored] = await ds.query<object[]>(
      'SELECT response_headers, response_body FROM idempotency_keys WHERE key = $1',
      [key],
    );
    expect(JSON.stringify(stored)).not.toContain(secret);
    const other = await jsonRequest('POST', '/api/v1/api-keys', { name: `${name}!` })(key);
    expect(other.json()).toMatchObject({ status: 422, code: 'idempotency_key_reused' });
  });

  it('does the work once whatever white space the JSON Content-Type starts with', async () => {
    // Fastify trims it (U+00A0 too, which Node passes through) and parses the body as JSON.
    for (const contentType of ['\u00a0application/json', ' application/json; charset=utf-8']) {
      const name = `Spaced ${randomUUID()}`;
      const send = jsonRequest('POST', '/api/v1/products', { name }, contentType);
      const key = randomUUID();
      const first = await send(key);
      expect(first.statusCode).toBe(201);
      const retry = await send(key);
      expect({ contentType, status: retry.statusCode, body: retry.body }).toEqual({
        contentType,
        status: 201,
        body: first.body,
      });
      const [{ n }] = await ds.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM products WHERE name = $1',
        [name],
      );
      expect({ contentType, products: n }).toEqual({ contentType, products: 1 });
    }
  });

  it('does the work once for concurrent requests with one key; the others wait (409) or replay', async () => {
    const send = galleryUpload(await newProduct());
    const key = randomUUID();
    const before = await made();
    const answers = await Promise.all(Array.from({ length: 6 }, () => send(key)));
    const created = theWorkOnce(answers, 201);
    expect((await made()).images).toBe(before.images + 1);
    const retry = await send(key);
    expect(retry.statusCode).toBe(201);
    expect(retry.body).toBe(created.body);
  });

  it('answers 409 while the first request with the key is still in flight, then its answer', async () => {
    const key = randomUUID();
    const text = csv(4, 'held');
    const held = new PassThrough();
    held.write(text.slice(0, 40));
    const first = app.inject({
      method: 'POST',
      url: '/api/v1/imports',
      headers: { ...authHeaders(admin), 'content-type': 'text/csv', 'idempotency-key': key },
      payload: held,
    });
    await eventually(async () => (await keyRows(key)) === 1, 'the key to be claimed');

    const second = await csvImport(text)(key);
    expect(second.statusCode).toBe(409);
    expect(second.json()).toMatchObject({ code: 'idempotency_key_in_use' });
    expect(second.headers['retry-after']).toBe('1');

    held.end(text.slice(40));
    const answer = await first;
    expect(answer.statusCode).toBe(202);
    const retry = await csvImport(text)(key);
    expect(retry.statusCode).toBe(202);
    expect(retry.body).toBe(answer.body);
  });

  it('answers 422 for the same key with another payload or on another route', async () => {
    const product = await newProduct();
    const key = randomUUID();
    expect((await galleryUpload(product)(key)).statusCode).toBe(201);
    const before = await made();
    const reused = [
      await galleryUpload(product, { title: 'Back' })(key),
      await galleryUpload(product, { title: 'Front' }, otherJpeg)(key),
      await galleryUpload(await newProduct())(key),
      await jsonRequest('POST', `/api/v1/products/${product}/images`, { image_id: 'x' })(key),
      await csvImport(csv(1))(key),
    ];
    for (const answer of reused) {
      expect(answer.statusCode).toBe(422);
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(answer.json()).toMatchObject({ status: 422, code: 'idempotency_key_reused' });
    }
    expectNothingMade(before, await made());

    // A bulk import's CSV is compared by its rows, which a retry reads without importing them.
    const importKey = randomUUID();
    expect((await csvImport(csv(2, 'x'))(importKey)).statusCode).toBe(202);
    const otherRows = await csvImport(csv(2, 'y'))(importKey);
    expect(otherRows.json()).toMatchObject({ status: 422, code: 'idempotency_key_reused' });
  });

  it('keeps each caller’s keys apart: another caller’s same key does its own work', async () => {
    const product = await newProduct();
    const key = randomUUID();
    const mine = await galleryUpload(product)(key);
    const staffs = await galleryUpload(product)(key, staffKey);
    expect([mine.statusCode, staffs.statusCode]).toEqual([201, 201]);
    expect(staffs.json<{ id: string }>().id).not.toBe(mine.json<{ id: string }>().id);

    const elsewhere = await otherOrganisationAdmin(app, 'idempotent-elsewhere', 'idem');
    const theirProduct = await call(app, 'POST', '/api/v1/products', elsewhere, { name: 'Theirs' });
    const theirs = await galleryUpload(theirProduct.json<{ id: string }>().id)(key, elsewhere);
    expect(theirs.statusCode).toBe(201);
    // Each caller's retry gets its own first answer.
    expect((await galleryUpload(product)(key, staffKey)).body).toBe(staffs.body);
    expect((await galleryUpload(product)(key)).body).toBe(mine.body);
  });

  it('replays a refusal of the request, but not a body it could not read', async () => {
    const gone = randomUUID();
    const key = randomUUID();
    const refused = await galleryUpload(gone)(key);
    expect(refused.json()).toMatchObject({ status: 404, code: 'product_not_found' });
    const retry = await galleryUpload(gone)(key);
    expect(retry.statusCode).toBe(404);
    // The first answer, its request id included.
    expect(retry.body).toBe(refused.body);

    const product = await newProduct();
    const unread = randomUUID();
    const noImage = multipart({ title: 'Front' });
    const missing = await call(
      app,
      'POST',
      `/api/v1/products/${product}/images`,
      admin,
      noImage.payload,
      {
        headers: { ...noImage.headers, 'idempotency-key': unread },
      },
    );
    expect(missing.json()).toMatchObject({ status: 400, code: 'image_required' });
    expect((await galleryUpload(product)(unread)).statusCode).toBe(201);
  });

  it('lets the key go after a 412, so that the retry with the new ETag (as the 412 says) is done', async () => {
    const product = await newProduct('If-Match');
    const gallery = `/api/v1/products/${product}/images`;
    expect((await galleryUpload(product, { title: 'first' })(undefined)).statusCode).toBe(201);
    const key = randomUUID();
    const body = multipart({ title: 'second' }, [
      { data: jpeg, contentType: 'image/jpeg', filename: 'a.jpg' },
    ]);
    const upload = (ifMatch: string) => (key: string) =>
      call(app, 'POST', gallery, admin, body.payload, {
        headers: { ...body.headers, 'idempotency-key': key, 'if-match': ifMatch },
      });
    const stale = await upload('"0"')(key);
    expect(stale.json()).toMatchObject({ status: 412, code: 'gallery_changed' });
    expect(await keyRows(key)).toBe(0);
    const etag = (await call(app, 'GET', gallery, admin)).headers.etag as string;
    const retried = await upload(etag)(key);
    expect(retried.statusCode).toBe(201);
    expect((await upload(etag)(key)).body).toBe(retried.body);
  });

  it('lets the key go after a 415 for a body of a type the route does not take', async () => {
    const key = randomUUID();
    for (const [type, payload] of [
      ['application/json', JSON.stringify({ purpose: 'product' })],
      ['text/plain', 'purpose=product'],
    ]) {
      const refused = await call(app, 'POST', '/api/v1/images', admin, payload, {
        headers: { 'content-type': type, 'idempotency-key': key },
      });
      expect(refused.json()).toMatchObject({ status: 415, code: 'unsupported_media_type' });
    }
    const before = await made();
    const body = multipart({ purpose: 'product' }, [{ data: jpeg, contentType: 'image/jpeg' }]);
    const corrected = await call(app, 'POST', '/api/v1/images', admin, body.payload, {
      headers: { ...body.headers, 'idempotency-key': key },
    });
    expect(corrected.statusCode).toBe(201);
    expect((await made()).images).toBe(before.images + 1);
  });

  it('does the work again once the key has expired, and the sweep deletes expired keys', async () => {
    const send = galleryUpload(await newProduct());
    const key = randomUUID();
    const first = await send(key);
    expect(first.statusCode).toBe(201);
    await ds.query(
      `UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`,
      [key],
    );
    const before = await made();
    const again = await send(key);
    expect(again.statusCode).toBe(201);
    expect(again.json<{ id: string }>().id).not.toBe(first.json<{ id: string }>().id);
    expect((await made()).images).toBe(before.images + 1);
    // …and the new answer is the one replayed now.
    expect((await send(key)).body).toBe(again.body);

    await ds.query(
      `UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`,
      [key],
    );
    expect(await app.get(IdempotencyKeySweeper).sweep()).toBeGreaterThanOrEqual(1);
    expect(await keyRows(key)).toBe(0);
  });

  it('refuses a malformed key (400) before doing anything', async () => {
    const product = await newProduct();
    const before = await made();
    for (const key of ['', 'x'.repeat(256), 'clé', 'tab\tinside']) {
      const res = await galleryUpload(product)(key);
      expect(res.json()).toMatchObject({ status: 400, code: 'invalid_idempotency_key' });
    }
    const twice = multipart({}, [{ data: jpeg, contentType: 'image/jpeg' }]);
    const res = await app.inject({
      method: 'POST',
      url: `/api/v1/products/${product}/images`,
      headers: { ...authHeaders(admin), ...twice.headers, 'idempotency-key': ['a', 'b'] },
      payload: twice.payload,
    });
    expect(res.json()).toMatchObject({ status: 400, code: 'invalid_idempotency_key' });
    expectNothingMade(before, await made());
    expect((await galleryUpload(product)('x'.repeat(255))).statusCode).toBe(201);
  });

  it('keeps a key for a path of any length a valid external id makes', async () => {
    // 255 characters, the most an external id has: 2,295 percent-encoded, past the 2,048 a
    // varchar column held (the key's INSERT failed: 500, where the request without a key worked).
    const externalId = '商'.repeat(255);
    const made = await call(app, 'POST', '/api/v1/products', admin, {
      name: 'Long reference',
      external_id: externalId,
    });
    expect(made.statusCode).toBe(201);
    const path = `/api/v1/products/by-external-id/${encodeURIComponent(externalId)}/images`;
    expect(path.length).toBeGreaterThan(2048);
    const upload = (key: string) => {
      const body = multipart({}, [{ data: jpeg, contentType: 'image/jpeg' }]);
      return call(app, 'POST', path, admin, body.payload, {
        headers: { ...body.headers, 'idempotency-key': key },
      });
    };
    const key = randomUUID();
    const first = await upload(key);
    expect(first.statusCode).toBe(201);
    const retry = await upload(key);
    expect({ status: retry.statusCode, body: retry.body }).toEqual({
      status: 201,
      body: first.body,
    });
    const gallery = await call(app, 'GET', path, admin);
    expect(gallery.json<{ items: unknown[] }>().items).toHaveLength(1);
  });

  it('takes another spelling of the same path for the same request, as URLs compare (RFC 3986)', async () => {
    // Percent-encoding's hex digits in either case, and an unreserved character sent
    // percent-encoded or not, spell one path (RFC 3986 §6.2.2), which the router reads as one
    // route: a retry through another client library, or a proxy that normalises URLs, spells it
    // so, and was refused 422 idempotency_key_reused, its first answer lost.
    const externalId = `café~${randomUUID()}`;
    const product = await call(app, 'POST', '/api/v1/products', admin, {
      name: 'Spelt',
      external_id: externalId,
    });
    expect(product.statusCode).toBe(201);
    const encoded = encodeURIComponent(externalId);
    expect(encoded).toContain('caf%C3%A9~');
    const spellings = [
      `/api/v1/products/by-external-id/${encoded}/images`,
      `/api/v1/products/by-external-id/${encoded.replace('%C3%A9~', '%c3%a9%7e')}/images`,
      `/api/v1/products/by-external-id/${encoded.replace('caf', '%63%61f')}/%69mages`,
    ];
    const upload = (path: string, key: string) => {
      const body = multipart({ title: 'Front' }, [{ data: jpeg, contentType: 'image/jpeg' }]);
      return call(app, 'POST', path, admin, body.payload, {
        headers: { ...body.headers, 'idempotency-key': key },
      });
    };
    const key = randomUUID();
    const first = await upload(spellings[0], key);
    expect(first.statusCode).toBe(201);
    for (const path of spellings) {
      const retry = await upload(path, key);
      expect({ path, status: retry.statusCode, body: retry.body }).toEqual({
        path,
        status: 201,
        body: first.body,
      });
    }
    const gallery = await call(app, 'GET', spellings[0], admin);
    expect(gallery.json<{ items: unknown[] }>().items).toHaveLength(1);

    const name = `Spelt ${randomUUID()}`;
    const productKey = randomUUID();
    const created = await jsonRequest('POST', '/api/v1/products', { name })(productKey);
    expect(created.statusCode).toBe(201);
    const respelt = await jsonRequest('POST', '/api/v1/%70roduct%73', { name })(productKey);
    expect({ status: respelt.statusCode, body: respelt.body }).toEqual({
      status: 201,
      body: created.body,
    });
    const [{ n }] = await ds.query<{ n: number }[]>(
      'SELECT count(*)::int AS n FROM products WHERE name = $1',
      [name],
    );
    expect(n).toBe(1);
    // Another route is still another request, however close its spelling.
    const elsewhere = await jsonRequest('POST', `/api/v1/products/${product.json().id}/images`, {
      image_id: 'x',
    })(productKey);
    expect(elsewhere.json()).toMatchObject({ status: 422, code: 'idempotency_key_reused' });
  });

  it('takes a request-target in absolute form (http://host/path) for its path, as the router does', async () => {
    // HTTP/1.1 servers must take `POST http://host/api/v1/products` (RFC 9112 §3.2.2), what a
    // client sends through a proxy, and the router serves it as `/api/v1/products`: a retry sent
    // one way after the first went the other was 422 idempotency_key_reused.
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.getHttpServer().address() as { port: number };
    const name = `Absolute ${randomUUID()}`;
    const send = (target: string, key: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const headers = {
          ...authHeaders(admin),
          'content-type': 'application/json',
          'idempotency-key': key,
        };
        const req = httpRequest(
          { host: '127.0.0.1', port, method: 'POST', path: target, headers },
          (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject).end(JSON.stringify({ name }));
      });
    for (const [first, retry] of [
      ['/api/v1/products', `http://127.0.0.1:${port}/api/v1/products`],
      [`HTTPS://images.example/api/v1/products`, '/api/v1/products?from=retry'],
    ]) {
      const key = randomUUID();
      const created = await send(first, key);
      expect(created.status).toBe(201);
      expect(await send(retry, key)).toEqual(created);
    }
    const [{ n }] = await ds.query<{ n: number }[]>(
      'SELECT count(*)::int AS n FROM products WHERE name = $1',
      [name],
    );
    expect(n).toBe(2);
  });

  // Two instances share a PostgreSQL server only: the embedded database belongs to one process.
  (process.env.TEST_DATABASE_URL ? describe : describe.skip)('across two instances', () => {
    let second: NestFastifyApplication;

    beforeAll(async () => {
      second = await createApp({ env: { NODE_ENV: 'test', LOG_LEVEL: 'silent', ...t.db.env } });
    });
    afterAll(async () => {
      await second?.close();
    });

    it('replays on one instance the answer the other gave', async () => {
      const product = await newProduct();
      const key = randomUUID();
      const first = await galleryUpload(product)(key);
      expect(first.statusCode).toBe(201);
      const before = await made();
      const retry = await galleryUpload(product, undefined, undefined, second)(key);
      expect(retry.statusCode).toBe(201);
      expect(retry.body).toBe(first.body);
      expect(retry.headers.location).toBe(first.headers.location);
      expectNothingMade(before, await made());
    });

    it('answers 409 on one instance while the other still works on the key', async () => {
      const key = randomUUID();
      const text = csv(3, 'shared');
      const held = new PassThrough();
      held.write(text.slice(0, 30));
      const first = second.inject({
        method: 'POST',
        url: '/api/v1/imports',
        headers: { ...authHeaders(admin), 'content-type': 'text/csv', 'idempotency-key': key },
        payload: held,
      });
      await eventually(async () => (await keyRows(key)) === 1, 'the key to be claimed');
      const busy = await csvImport(text)(key);
      expect(busy.json()).toMatchObject({ status: 409, code: 'idempotency_key_in_use' });
      held.end(text.slice(30));
      const answer = await first;
      expect(answer.statusCode).toBe(202);
      const retry = await csvImport(text)(key);
      expect(retry.statusCode).toBe(202);
      expect(retry.body).toBe(answer.body);
    });
  });

  async function keyRows(key: string): Promise<number> {
    const [{ n }] = await ds.query<{ n: number }[]>(
      'SELECT count(*)::int AS n FROM idempotency_keys WHERE key = $1',
      [key],
    );
    return n;
  }
});
