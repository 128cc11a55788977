import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { Role } from '../../src/auth/roles';
import { decodeId } from '../../src/common/ids/short-id';
import { ImportWorker, type ImportRowsJob } from '../../src/imports/import-worker.service';
import type { JobRecord } from '../../src/jobs/job-queue.service';
import { addUser } from '../support/accounts';
import { eventually } from '../support/eventually';
import { call, login, type Credential } from '../support/http';
import { guardedConnect } from '../support/loopback-guard';
import { startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

interface RowBody {
  row: number;
  status: 'pending' | 'ok' | 'failed';
  image_id: string | null;
  problem: { code: string; message: string } | null;
}

/** A title and an alt text that show as nothing: refused since 52046be, stored by versions before. */
const INVISIBLE = { title: '\u200b\u200b', alt_text: '\u202e\u0301' };

/**
 * Bulk imports: a row whose problem message is cut to its length, rows cancelled then retried
 * by another admin while the job first queued for them still runs, and rows stored by an older
 * version checked again when worked. The app queues jobs without running them (SERVICE_ROLE api):
 * the test runs them itself, as pg-boss would, to act while one waits on its image. Images come
 * from a server on loopback (allowed through IMPORT_ALLOWED_PRIVATE_ORIGINS) that holds the first
 * request for each `/held/…` path until the test answers it, and answers the first for each
 * `/gone/…` path 404; a guard fails any other connection.
 */
describe('Bulk imports: messages cut to length, a retry after a cancel, rows of older versions', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let storage: StorageBackend;
  let server: http.Server;
  let origin: string;
  let admin: Credential;
  let product: { id: string; gtin: string };
  /** Answers held back (the first request for each `/held/…` path), sent when the test says. */
  const held: (() => void)[] = [];
  /** The paths the image server was asked for, in order. */
  const asked: string[] = [];

  beforeAll(async () => {
    jest.spyOn(net.Socket.prototype, 'connect').mockImplementation(guardedConnect);
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#345' } })
      .png()
      .toBuffer();
    server = http.createServer((req, res) => {
      const answer = () => res.writeHead(200, { 'Content-Type': 'image/png' }).end(png);
      const path = req.url ?? '/';
      const first = !asked.includes(path);
      asked.push(path);
      if (path.startsWith('/held/') && first) held.push(answer);
      else if (path.startsWith('/gone/') && first) res.writeHead(404).end();
      else answer();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    storage = await startStorageBackend('local');
    t = await startTestApp({
      ...storage.env,
      SERVICE_ROLE: 'api',
      IMPORT_ALLOWED_PRIVATE_ORIGINS: origin,
    });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const res = await call(app, 'POST', '/api/v1/products', admin, {
      name: 'Defects',
      gtin: '4006381333931',
    });
    expect(res.statusCode).toBe(201);
    product = res.json();
  });

  afterAll(async () => {
    await t?.close();
    await storage?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    jest.restoreAllMocks();
  });

  async function rowsOf(id: string): Promise<RowBody[]> {
    const res = await call(app, 'GET', `/api/v1/imports/${id}/rows?limit=100`, admin);
    expect(res.statusCode).toBe(200);
    return res.json<{ items: RowBody[] }>().items;
  }

  const run = (data: ImportRowsJob, id: string) =>
    app.get(ImportWorker).work(data, { id, retryCount: 0 } as JobRecord<ImportRowsJob>);

  it('fails a row with a long unknown field named in emoji alone, its message cut between characters', async () => {
    // The problem message names the field: 1000 characters of it are kept, the first 1000 UTF-16
    // units ending inside an emoji (half of it is a string PostgreSQL's jsonb refuses).
    const field = `x${'😀'.repeat(1200)}`;
    const res = await call(app, 'POST', '/api/v1/imports', admin, {
      rows: [
        { gtin: product.gtin, url: `${origin}/a.png` },
        { gtin: product.gtin, url: `${origin}/b.png`, [field]: 1 },
      ],
    });
    expect(res.statusCode).toBe(202);
    const [first, second] = await rowsOf(res.json<{ id: string }>().id);
    expect(first).toMatchObject({ row: 1, status: 'pending' });
    expect(second).toMatchObject({
      row: 2,
      status: 'failed',
      problem: { code: 'invalid_import_row' },
    });
    const message = second.problem!.message;
    expect([...message]).toHaveLength(1000);
    expect(message).toBe(`x${'😀'.repeat(999)}`);
  });

  it('fails a row whose GTIN is a JSON number, saying it must be a string (its check digit is right)', async () => {
    const res = await call(app, 'POST', '/api/v1/imports', admin, {
      rows: [
        { gtin: Number(product.gtin), url: `${origin}/number.png` },
        { gtin: product.gtin, url: `${origin}/list.png`, title: ['a'] },
      ],
    });
    expect(res.statusCode).toBe(202);
    const rows = await rowsOf(res.json<{ id: string }>().id);
    expect(rows.map(({ row, status, problem }) => ({ row, status, problem }))).toEqual([
      {
        row: 1,
        status: 'failed',
        problem: { code: 'invalid_import_row', message: 'gtin must be a string' },
      },
      {
        row: 2,
        status: 'failed',
        problem: { code: 'invalid_import_row', message: 'title must be a string' },
      },
    ]);
  });

  it('leaves rows cancelled then retried by another admin to the retry, which runs them as that admin', async () => {
    const bettina = await addUser(app, admin, 'bettina', Role.Admin);
    const posted = await call(app, 'POST', '/api/v1/imports', admin, {
      rows: [`${origin}/held/1.png`, `${origin}/2.png`, `${origin}/3.png`].map((url) => ({
        gtin: product.gtin,
        url,
      })),
    });
    expect(posted.statusCode).toBe(202);
    const importId = posted.json<{ id: string }>().id;
    const jobs = async (round: number) =>
      app.get(DataSource).query<{ id: string; data: ImportRowsJob }[]>(
        `SELECT id, data FROM pgboss.job
          WHERE name = 'bulk-import-rows' AND data->>'import_id' = $1
            AND coalesce((data->>'retry_round')::int, 0) = $2`,
        [decodeId(importId), round],
      );
    const [queued] = await jobs(0);
    expect(queued.data).toMatchObject({ first: 1, last: 3, retry_round: 0 });

    // The import's job reads its three pending rows and waits on row 1's image.
    const old = run(queued.data, queued.id);
    await eventually(() => held.length === 1, 'the first fetch held');
    // Meanwhile the poster cancels the import, and another admin retries it: rows 1 to 3 are
    // pending again, for a job of the retry's round.
    expect((await call(app, 'POST', `/api/v1/imports/${importId}/cancel`, admin)).statusCode).toBe(
      200,
    );
    const retried = await call(app, 'POST', `/api/v1/imports/${importId}/retry`, bettina);
    expect(retried.statusCode).toBe(202);
    const [retry] = await jobs(1);
    expect(retry.data).toMatchObject({ first: 1, last: 3, retry_round: 1 });

    // The old job gets its image: it has lost row 1, and leaves rows 2 and 3 to the retry's job.
    held[0]();
    await expect(old).resolves.toEqual({ ok: 0, failed: 0, skipped: 3 });
    await expect(run(retry.data, retry.id)).resolves.toEqual({ ok: 3, failed: 0, skipped: 0 });

    const rows = await rowsOf(importId);
    expect(rows.map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
    for (const row of rows) {
      const image = await call(
        app,
        'GET',
        `/api/v1/products/${product.id}/images/${row.image_id}`,
        admin,
      );
      expect(image.json()).toMatchObject({ uploaded_by: { username: 'bettina' } });
    }
    const done = await call(app, 'GET', `/api/v1/imports/${importId}`, admin);
    expect(done.json()).toMatchObject({ state: 'completed', counts: { ok: 3, pending: 0 } });
  });

  /**
   * Rows stored by a version that did not refuse what they hold (a title or alt text showing as
   * nothing), worked now: the worker checks a row's fields again with the rules posting it would
   * meet today, and fails the row as posting it would have (`invalid_import_row`, the same
   * message), never fetching or storing its image. The rows are written straight to the
   * database, as the older version wrote them.
   */
  describe('rows stored by an older version, checked again when worked', () => {
    let productId: string;

    beforeAll(async () => {
      const res = await call(app, 'POST', '/api/v1/products', admin, { name: 'Old rows' });
      expect(res.statusCode).toBe(201);
      productId = res.json<{ id: string }>().id;
    });

    async function post(rows: object[]): Promise<string> {
      const res = await call(app, 'POST', '/api/v1/imports', admin, { rows });
      expect(res.statusCode).toBe(202);
      return res.json<{ id: string }>().id;
    }

    /** The import's queued jobs of a round, run as pg-boss would run them (first attempt). */
    async function runJobs(importId: string, round: number): Promise<object[]> {
      const jobs = await app.get(DataSource).query<{ id: string; data: ImportRowsJob }[]>(
        `SELECT id, data FROM pgboss.job
          WHERE name = 'bulk-import-rows' AND data->>'import_id' = $1
            AND coalesce((data->>'retry_round')::int, 0) = $2`,
        [decodeId(importId), round],
      );
      expect(jobs.length).toBeGreaterThan(0);
      const tallies: object[] = [];
      for (const job of jobs) tallies.push(await run(job.data, job.id));
      return tallies;
    }

    /** Writes a row's title and alt text as an older version stored them, unchecked. */
    async function storeAsOlderVersion(importId: string, row: number): Promise<void> {
      await app
        .get(DataSource)
        .query(
          `UPDATE import_rows SET title = $3, alt_text = $4 WHERE import_id = $1 AND row_number = $2`,
          [decodeId(importId), row, INVISIBLE.title, INVISIBLE.alt_text],
        );
    }

    /** The problem posting such a row today gets, on arrival. */
    async function problemOnArrival(): Promise<RowBody['problem']> {
      const [refused] = await rowsOf(
        await post([{ product_id: productId, url: `${origin}/x.png`, ...INVISIBLE }]),
      );
      expect(refused).toMatchObject({ status: 'failed', problem: { code: 'invalid_import_row' } });
      expect(refused.problem!.message).toMatch(/title/);
      expect(refused.problem!.message).toMatch(/alt_text/);
      return refused.problem;
    }

    async function imagesOfProduct(): Promise<number> {
      const [{ n }] = await app
        .get(DataSource)
        .query<{ n: number }[]>(`SELECT count(*)::int AS n FROM images WHERE product_id = $1`, [
          decodeId(productId),
        ]);
      return n;
    }

    it('fails a pending row whose stored title and alt text show as nothing, as posting it would, storing no image', async () => {
      const expected = await problemOnArrival();
      const storedBefore = storage.stored();
      const importId = await post([
        { product_id: productId, url: `${origin}/a.png`, title: 'Front' },
      ]);
      await storeAsOlderVersion(importId, 1);

      await expect(runJobs(importId, 0)).resolves.toEqual([{ ok: 0, failed: 1, skipped: 0 }]);

      const [row] = await rowsOf(importId);
      expect(row).toEqual(
        expect.objectContaining({ status: 'failed', image_id: null, problem: expected }),
      );
      expect(asked).not.toContain('/a.png');
      expect(await imagesOfProduct()).toBe(0);
      expect(storage.stored()).toEqual(storedBefore);
      const done = await call(app, 'GET', `/api/v1/imports/${importId}`, admin);
      expect(done.json()).toMatchObject({ state: 'completed', counts: { failed: 1, pending: 0 } });
    });

    it('fails such a row when its import is retried, and leaves it failed on the next retry', async () => {
      const expected = await problemOnArrival();
      const storedBefore = storage.stored();
      // Stored and failed by the older version (its image missing then); its image is there now.
      const importId = await post([{ product_id: productId, url: `${origin}/gone/b.png` }]);
      await expect(runJobs(importId, 0)).resolves.toEqual([{ ok: 0, failed: 1, skipped: 0 }]);
      const [first] = await rowsOf(importId);
      expect(first.status).toBe('failed');
      expect(first.problem!.code).not.toBe('invalid_import_row');
      await storeAsOlderVersion(importId, 1);

      const retried = await call(app, 'POST', `/api/v1/imports/${importId}/retry`, admin);
      expect(retried.statusCode).toBe(202);
      await expect(runJobs(importId, 1)).resolves.toEqual([{ ok: 0, failed: 1, skipped: 0 }]);

      const [row] = await rowsOf(importId);
      expect(row).toEqual(
        expect.objectContaining({ status: 'failed', image_id: null, problem: expected }),
      );
      expect(asked.filter((path) => path === '/gone/b.png')).toHaveLength(1);
      expect(await imagesOfProduct()).toBe(0);
      expect(storage.stored()).toEqual(storedBefore);

      // Refused as a row refused on arrival is: a retry does not run it again.
      const again = await call(app, 'POST', `/api/v1/imports/${importId}/retry`, admin);
      expect(again.statusCode).toBe(202);
      expect(again.json()).toMatchObject({ state: 'completed', counts: { failed: 1, pending: 0 } });
      expect(await rowsOf(importId)).toEqual([row]);
    });
  });
});
