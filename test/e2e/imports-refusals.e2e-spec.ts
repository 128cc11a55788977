import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { ImportsRepository } from '../../src/imports/imports.repository';
import { authHeaders, call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

const MAX_ROWS = 50;
const MAX_CSV_BYTES = 256 * 1024;

/**
 * Bulk import bodies refused as a whole: nothing is stored for them, not even for the time the
 * request takes. The app queues jobs without running them (SERVICE_ROLE api).
 */
describe('Bulk imports refused as a whole (POST /api/v1/imports)', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let storage: StorageBackend;
  let admin: Credential;

  beforeAll(async () => {
    storage = await startStorageBackend('local');
    t = await startTestApp({
      ...storage.env,
      SERVICE_ROLE: 'api',
      BULK_IMPORT_MAX_ROWS: String(MAX_ROWS),
      BULK_IMPORT_MAX_BYTES: String(MAX_CSV_BYTES),
    });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await t?.close();
    await storage?.close();
  });

  const countImports = async () =>
    (await app.get(DataSource).query<{ n: number }[]>(`SELECT count(*)::int AS n FROM imports`))[0]
      .n;

  it('refuses JSON with more rows than BULK_IMPORT_MAX_ROWS before storing any (413 import_too_large)', async () => {
    const repository = app.get(ImportsRepository);
    const created = jest.spyOn(repository, 'create');
    const inserted = jest.spyOn(repository, 'insertRows');
    const before = await countImports();
    const row = { gtin: '4006381333931', url: 'https://images.example.com/a.jpg' };
    try {
      const res = await call(app, 'POST', '/api/v1/imports', admin, {
        rows: Array.from({ length: MAX_ROWS * 30 + 1 }, () => row),
      });
      expect(res.statusCode).toBe(413);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ code: 'import_too_large', status: 413 });
      // No import was made, then deleted: none was listed while the request ran, and no rows
      // were written only to be deleted again.
      expect(created).not.toHaveBeenCalled();
      expect(inserted).not.toHaveBeenCalled();
      expect(await countImports()).toBe(before);
    } finally {
      created.mockRestore();
      inserted.mockRestore();
    }
  });

  it('fails a JSON row of 90,000 made-up fields alone, at once, by their number', async () => {
    // 1 MiB of fields no row has: copied to the row's DTO, they held the event loop (and every
    // other request of the process) for many seconds, the time growing with their square.
    const fields = Array.from({ length: 90_000 }, (_, i) => `"f${i}":1`).join(',');
    const body =
      `{"rows":[{"gtin":"4006381333931","url":"https://images.example.com/a.jpg",${fields}},` +
      `{"gtin":"4006381333931","url":"https://images.example.com/b.jpg","colour":"red"}]}`;
    const started = Date.now();
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/imports',
      headers: { ...authHeaders(admin), 'content-type': 'application/json' },
      payload: body,
    });
    const took = Date.now() - started;
    expect(res.statusCode).toBe(202);
    const rows = await call(
      app,
      'GET',
      `/api/v1/imports/${res.json<{ id: string }>().id}/rows`,
      admin,
    );
    expect(rows.json<{ items: unknown[] }>().items).toMatchObject([
      {
        row: 1,
        status: 'failed',
        problem: {
          code: 'invalid_import_row',
          message: expect.stringMatching(/^the row has 90002 fields; its fields are: product_id, /),
        },
      },
      // A few unknown fields are still each named.
      { row: 2, status: 'failed', problem: { message: expect.stringMatching(/colour/) } },
    ]);
    expect(took).toBeLessThan(4000);
  });

  it('still takes exactly BULK_IMPORT_MAX_ROWS rows of JSON', async () => {
    const row = { gtin: '4006381333931', url: 'https://images.example.com/a.jpg' };
    const res = await call(app, 'POST', '/api/v1/imports', admin, {
      rows: Array.from({ length: MAX_ROWS }, () => row),
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ counts: { total: MAX_ROWS } });
  });

  it('numbers rows by CSV record, not by line: a quoted line break and a blank line count none', async () => {
    const csv =
      'gtin,url,title\n' +
      '4006381333931,https://images.example.com/a.jpg,"Front\nand back"\n' +
      '\n' +
      '4006381333931,ftp://images.example.com/b.jpg,Side\n';
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/imports',
      headers: { ...authHeaders(admin), 'content-type': 'text/csv' },
      payload: csv,
    });
    expect(res.statusCode).toBe(202);
    const rows = await call(
      app,
      'GET',
      `/api/v1/imports/${res.json<{ id: string }>().id}/rows`,
      admin,
    );
    // The second row starts on the file's fifth line.
    expect(rows.json<{ items: unknown[] }>().items).toMatchObject([
      // (A line break is no title's: the first row fails too, named by its record's number.)
      { row: 1, problem: { message: expect.stringMatching(/title/) } },
      { row: 2, problem: { message: expect.stringMatching(/url/) } },
    ]);
  });

  describe('compressed (Content-Encoding: gzip)', () => {
    const CSV =
      'gtin,url\n4006381333931,https://images.example.com/a.jpg\n' +
      '4006381333931,https://images.example.com/b.jpg\n';
    const post = (type: string, payload: Buffer, encoding = 'gzip', credential = admin) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/imports',
        headers: { ...authHeaders(credential), 'content-type': type, 'content-encoding': encoding },
        payload,
      });
    const countRows = async () =>
      (
        await app
          .get(DataSource)
          .query<{ n: number }[]>(`SELECT count(*)::int AS n FROM import_rows`)
      )[0].n;

    it('takes a gzip CSV or JSON body, decompressed as it arrives', async () => {
      const csv = await post('text/csv', gzipSync(CSV));
      expect(csv.statusCode).toBe(202);
      expect(csv.json()).toMatchObject({ format: 'csv', counts: { total: 2 } });
      const json = await post(
        'application/json',
        gzipSync(
          JSON.stringify({
            rows: [{ gtin: '4006381333931', url: 'https://images.example.com/a.jpg' }],
          }),
        ),
      );
      expect(json.statusCode).toBe(202);
      expect(json.json()).toMatchObject({ format: 'json', counts: { total: 1 } });
      // `identity` (no coding) is still taken as it is.
      const identity = await post('text/csv', Buffer.from(CSV), 'identity');
      expect(identity.statusCode).toBe(202);
    });

    it('answers an Idempotency-Key retry of the same rows compressed anew as the first', async () => {
      // gzip writes the time of compression into its header (Python's gzip.compress, the gzip
      // tool): a retry of the same JSON is other bytes on the wire, and is the same request.
      const json = JSON.stringify({
        rows: [{ gtin: '4006381333931', url: 'https://images.example.com/retried.jpg' }],
      });
      const compressedAt = (seconds: number) => {
        const body = gzipSync(json);
        body.writeUInt32LE(seconds, 4);
        return body;
      };
      const send = (payload: Buffer, encoding: string) =>
        app.inject({
          method: 'POST',
          url: '/api/v1/imports',
          headers: {
            ...authHeaders(admin),
            'content-type': 'application/json',
            'content-encoding': encoding,
            'idempotency-key': 'gzip-retry-1',
          },
          payload,
        });
      const first = await send(compressedAt(1_700_000_000), 'gzip');
      expect(first.statusCode).toBe(202);
      const id = first.json<{ id: string }>().id;
      for (const [payload, encoding] of [
        [compressedAt(1_700_000_009), 'gzip'],
        [Buffer.from(json), 'identity'],
      ] as const) {
        const retry = await send(payload, encoding);
        expect(retry.statusCode).toBe(202);
        expect(retry.json<{ id: string }>().id).toBe(id);
      }
    });

    it('replays a retried gzip import as a plain one: same status, body and headers, one import', async () => {
      const JSON_BODY = JSON.stringify({
        rows: [{ gtin: '4006381333931', url: 'https://images.example.com/replayed.jpg' }],
      });
      for (const [type, text] of [
        ['text/csv', CSV],
        ['application/json', JSON_BODY],
      ]) {
        const send = (key: string, payload: Buffer, encoding: string) =>
          app.inject({
            method: 'POST',
            url: '/api/v1/imports',
            headers: {
              ...authHeaders(admin),
              'content-type': type,
              'content-encoding': encoding,
              'idempotency-key': `${key}-${type}`,
            },
            payload,
          });
        const gzippedAt = (seconds: number) => {
          const body = gzipSync(text);
          body.writeUInt32LE(seconds, 4);
          return body;
        };
        /** What a client sees of an answer, but for what differs every time. */
        const seen = (res: Awaited<ReturnType<typeof send>>) => {
          const { date: _date, 'x-request-id': _id, ...headers } = res.headers;
          return { status: res.statusCode, headers, body: res.body };
        };
        const before = await countImports();
        const plain = [
          await send('plain', Buffer.from(text), 'identity'),
          await send('plain', Buffer.from(text), 'identity'),
        ].map(seen);
        const gzipped = [
          await send('gzip', gzippedAt(1_700_000_000), 'gzip'),
          await send('gzip', gzippedAt(1_700_000_009), 'gzip'),
          await send('gzip', Buffer.from(text), 'identity'),
        ].map(seen);
        expect(await countImports()).toBe(before + 2);
        expect(plain[0].status).toBe(202);
        expect(plain[1]).toEqual(plain[0]);
        for (const replay of gzipped.slice(1)) expect(replay).toEqual(gzipped[0]);
        // The same answer as the plain import's, but for the import's own id and time.
        const generic = (answer: (typeof plain)[number]) => {
          const { id, created_at } = JSON.parse(answer.body) as { id: string; created_at: string };
          return JSON.parse(
            JSON.stringify(answer).replaceAll(id, 'ID').replaceAll(created_at, 'AT'),
          ) as unknown;
        };
        expect(generic(gzipped[0])).toEqual(generic(plain[0]));
      }
    });

    it('stops a gzip bomb at the limit on its decompressed bytes (413), leaving nothing', async () => {
      const before = { imports: await countImports(), rows: await countRows() };
      // 64 MiB of blank lines (skipped rows) after two good ones: some 64 KiB compressed.
      const bomb = gzipSync(Buffer.concat([Buffer.from(CSV), Buffer.alloc(64 * 1024 * 1024, 10)]));
      expect(bomb.length).toBeLessThan(MAX_CSV_BYTES);
      const csv = await post('text/csv', bomb);
      expect(csv.statusCode).toBe(413);
      expect(csv.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(csv.json()).toMatchObject({ code: 'payload_too_large' });
      const jsonBomb = gzipSync(
        Buffer.concat([
          Buffer.from('{"rows":['),
          Buffer.alloc(16 * 1024 * 1024, 32),
          Buffer.from(']}'),
        ]),
      );
      const json = await post('application/json', jsonBomb);
      expect(json.statusCode).toBe(413);
      expect(json.json()).toMatchObject({ code: 'payload_too_large' });
      expect({ imports: await countImports(), rows: await countRows() }).toEqual(before);
    });

    it('refuses a corrupt or truncated gzip body with 400, leaving nothing', async () => {
      const before = await countImports();
      const corrupt = gzipSync(CSV);
      corrupt.fill(0x55, 12, 30);
      const truncated = gzipSync(CSV).subarray(0, 30);
      for (const [type, body] of [
        ['text/csv', corrupt],
        ['text/csv', truncated],
        ['text/csv', Buffer.from(CSV)], // Not gzip at all.
        ['application/json', truncated],
      ] as const) {
        const res = await post(type, body);
        expect(res.statusCode).toBe(400);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.json<{ detail: string }>().detail).toMatch(/gzip/);
      }
      expect(await countImports()).toBe(before);
    });

    it('refuses other codings, and a gzip form, with 415 naming what it takes; after authentication', async () => {
      for (const encoding of ['br', 'deflate', 'gzip, gzip']) {
        const res = await post('text/csv', gzipSync(CSV), encoding);
        expect(res.statusCode).toBe(415);
        expect(res.json()).toMatchObject({ code: 'unsupported_media_type' });
        expect(res.json<{ detail: string }>().detail).toMatch(/gzip/);
      }
      const form = multipart({}, [{ name: 'file', filename: 'a.csv', data: Buffer.from(CSV) }]);
      const res = await post(form.headers['content-type'], gzipSync(form.payload));
      expect(res.statusCode).toBe(415);
      expect(res.json<{ detail: string }>().detail).toMatch(/gzip/);
      // A caller without a credential is refused first, its body unread.
      for (const encoding of ['gzip', 'br']) {
        const anonymous = await post(
          'text/csv',
          gzipSync(CSV),
          encoding,
          null as unknown as Credential,
        );
        expect(anonymous.statusCode).toBe(401);
      }
      // Over a socket: the anonymous caller is refused before its body is asked for (no 100
      // Continue), compressed or not; an admin's gzip body is then read and taken.
      // Any free port: a fixed one collides with another run of the suite on the machine.
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.getHttpServer().address() as AddressInfo;
      const send = (headers: Record<string, string>, body: Buffer, encoding = 'gzip') =>
        new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
          let continued = false;
          const req = http.request({
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/api/v1/imports',
            headers: {
              ...headers,
              'content-type': 'text/csv',
              'content-encoding': encoding,
              'content-length': String(body.length),
              expect: '100-continue',
              connection: 'close',
            },
          });
          req.on('continue', () => {
            continued = true;
            req.end(body);
          });
          req.on('response', (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, continued }));
          });
          req.on('error', reject);
          req.flushHeaders();
        });
      expect(await send({}, gzipSync(CSV))).toEqual({ status: 401, continued: false });
      expect(await send(authHeaders(admin), gzipSync(CSV), 'br')).toEqual({
        status: 415,
        continued: false,
      });
      expect(await send(authHeaders(admin), gzipSync(CSV))).toEqual({
        status: 202,
        continued: true,
      });
      // Other routes still take no coding at all.
      const other = await app.inject({
        method: 'POST',
        url: '/api/v1/products',
        headers: {
          ...authHeaders(admin),
          'content-type': 'application/json',
          'content-encoding': 'gzip',
        },
        payload: gzipSync('{"name":"x"}'),
      });
      expect(other.statusCode).toBe(415);
    });
  });
});
