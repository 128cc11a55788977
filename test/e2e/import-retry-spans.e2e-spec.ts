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
  problem: { code: string; message: string } | null;
}

/**
 * A retry while the import still runs: the jobs it queues must cover the rows it put back, not the
 * rows between them that other jobs (still queued) were queued for. The app queues jobs without
 * running them (SERVICE_ROLE api); the test runs them, as pg-boss would.
 */
describe('A bulk import retried while it still runs', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let storage: StorageBackend;
  let server: http.Server;
  let origin: string;
  let admin: Credential;
  const later = { available: false };

  beforeAll(async () => {
    jest.spyOn(net.Socket.prototype, 'connect').mockImplementation(guardedConnect);
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#345' } })
      .png()
      .toBuffer();
    server = http.createServer((req, res) => {
      if ((req.url ?? '').startsWith('/later/') && !later.available) {
        return void res.writeHead(404).end();
      }
      res.writeHead(200, { 'Content-Type': 'image/png' }).end(png);
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
  });

  afterAll(async () => {
    await t?.close();
    await storage?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    jest.restoreAllMocks();
  });

  const run = (data: ImportRowsJob, id: string, retryCount = 0) =>
    app.get(ImportWorker).work(data, { id, retryCount } as JobRecord<ImportRowsJob>);

  it('queues the retried rows only: its job, failed for good, fails no row another job was queued for', async () => {
    const product = (
      await call(app, 'POST', '/api/v1/products', admin, { name: 'Spans', gtin: '4006381333931' })
    ).json<{ gtin: string }>();
    // 30 rows, three jobs of ten; rows 5 and 25 fail at first (their server answers 404).
    const rows = Array.from({ length: 30 }, (_, i) => ({
      gtin: product.gtin,
      url: [5, 25].includes(i + 1) ? `${origin}/later/${i + 1}.png` : `${origin}/img/${i + 1}.png`,
    }));
    const posted = await call(app, 'POST', '/api/v1/imports', admin, { rows });
    expect(posted.statusCode).toBe(202);
    const importId = posted.json<{ id: string }>().id;
    const jobs = (round: number) =>
      app.get(DataSource).query<{ id: string; data: ImportRowsJob }[]>(
        `SELECT id, data FROM pgboss.job
          WHERE name = 'bulk-import-rows' AND data->>'import_id' = $1
            AND coalesce((data->>'retry_round')::int, 0) = $2 ORDER BY (data->>'first')::int`,
        [decodeId(importId), round],
      );
    const first = await jobs(0);
    expect(first.map((j) => [j.data.first, j.data.last])).toEqual([
      [1, 10],
      [11, 20],
      [21, 30],
    ]);
    // The first and last jobs run (rows 5 and 25 fail); the middle one still waits in the queue.
    await expect(run(first[0].data, first[0].id)).resolves.toMatchObject({ ok: 9, failed: 1 });
    await expect(run(first[2].data, first[2].id)).resolves.toMatchObject({ ok: 9, failed: 1 });

    // The admin fixes the two images and retries the import while rows 11 to 20 are still queued.
    later.available = true;
    const retried = await call(app, 'POST', `/api/v1/imports/${importId}/retry`, admin);
    expect(retried.statusCode).toBe(202);
    expect(retried.json()).toMatchObject({ counts: { pending: 12 } });
    const retryJobs = await jobs(1);

    // The retry's job dies during its last attempt (pg-boss moves it to its dead letter queue,
    // whose job fails the rows it left pending).
    for (const job of retryJobs) {
      await app.get(ImportWorker).failLeftPending(job.data, job.id);
    }

    // Rows 11 to 20 were never tried: they are the middle job's, still queued, which then makes
    // their images.
    await expect(run(first[1].data, first[1].id)).resolves.toMatchObject({ ok: 10 });
    const res = await call(app, 'GET', `/api/v1/imports/${importId}/rows?limit=100`, admin);
    const after = res.json<{ items: RowBody[] }>().items;
    expect(after.slice(10, 20).map((r) => r.status)).toEqual(Array(10).fill('ok'));
  });
});
