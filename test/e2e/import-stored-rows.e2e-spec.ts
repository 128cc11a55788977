import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { decodeId } from '../../src/common/ids/short-id';
import { ImportWorker, type ImportRowsJob } from '../../src/imports/import-worker.service';
import type { JobRecord } from '../../src/jobs/job-queue.service';
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
 * Bulk-import rows stored by a version that did not refuse what they hold (a title or alt text
 * showing as nothing), worked now: the worker checks a row's fields again with the rules posting
 * it would meet today, and fails the row as posting it would have (`invalid_import_row`, the same
 * message), never fetching or storing its image. The rows are written straight to the database,
 * as the older version wrote them. The app queues jobs without running them (SERVICE_ROLE api):
 * the test runs them itself, as pg-boss would. Images come from a server on loopback; a guard
 * fails any other connection.
 */
describe('Bulk imports: rows stored by an older version, checked again when worked', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let storage: StorageBackend;
  let server: http.Server;
  let origin: string;
  let admin: Credential;
  let product: { id: string; gtin: string };
  /** The paths the image server was asked for. */
  const asked: string[] = [];

  beforeAll(async () => {
    jest.spyOn(net.Socket.prototype, 'connect').mockImplementation(guardedConnect);
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#345' } })
      .png()
      .toBuffer();
    server = http.createServer((req, res) => {
      const path = req.url ?? '/';
      // `/gone/…` is missing the first time it is asked for (the row fails), there afterwards.
      const missing = path.startsWith('/gone/') && !asked.includes(path);
      asked.push(path);
      if (missing) res.writeHead(404).end();
      else res.writeHead(200, { 'Content-Type': 'image/png' }).end(png);
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
      name: 'Old rows',
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
    const worker = app.get(ImportWorker);
    const tallies: object[] = [];
    for (const job of jobs) {
      tallies.push(
        await worker.work(job.data, { id: job.id, retryCount: 0 } as JobRecord<ImportRowsJob>),
      );
    }
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
      await post([{ gtin: product.gtin, url: `${origin}/x.png`, ...INVISIBLE }]),
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
        decodeId(product.id),
      ]);
    return n;
  }

  it('fails a pending row whose stored title and alt text show as nothing, as posting it would, storing no image', async () => {
    const expected = await problemOnArrival();
    const importId = await post([{ gtin: product.gtin, url: `${origin}/a.png`, title: 'Front' }]);
    await storeAsOlderVersion(importId, 1);

    await expect(runJobs(importId, 0)).resolves.toEqual([{ ok: 0, failed: 1, skipped: 0 }]);

    const [row] = await rowsOf(importId);
    expect(row).toEqual(
      expect.objectContaining({ status: 'failed', image_id: null, problem: expected }),
    );
    expect(asked).not.toContain('/a.png');
    expect(await imagesOfProduct()).toBe(0);
    expect(storage.stored()).toEqual([]);
    const done = await call(app, 'GET', `/api/v1/imports/${importId}`, admin);
    expect(done.json()).toMatchObject({ state: 'completed', counts: { failed: 1, pending: 0 } });
  });

  it('fails such a row when its import is retried, and leaves it failed on the next retry', async () => {
    const expected = await problemOnArrival();
    // Stored and failed by the older version (its image missing then); its image is there now.
    const importId = await post([{ gtin: product.gtin, url: `${origin}/gone/b.png` }]);
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
    expect(storage.stored()).toEqual([]);

    // Refused as a row refused on arrival is: a retry does not run it again.
    const again = await call(app, 'POST', `/api/v1/imports/${importId}/retry`, admin);
    expect(again.statusCode).toBe(202);
    expect(again.json()).toMatchObject({ state: 'completed', counts: { failed: 1, pending: 0 } });
    expect(await rowsOf(importId)).toEqual([row]);
  });
});
