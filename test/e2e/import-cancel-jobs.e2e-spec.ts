import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { decodeId } from '../../src/common/ids/short-id';
import { IMPORT_ROWS_QUEUE } from '../../src/imports/import-worker.service';
import { JOB_SCHEMA } from '../../src/jobs/pg-boss.engine';
import { call, login, type Credential } from '../support/http';
import { startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * A cancelled import's jobs still queued are cancelled with it. They used to stay queued, each
 * taken by a worker in its turn to find its rows failed already: the organisation's next import
 * queues behind them (its imports run one after the other), so that a 1-row import posted after
 * cancelling a 20,000-row one waited 53 s for 2,000 jobs that did nothing; after a 100,000-row
 * one, minutes. The app queues jobs without running them (SERVICE_ROLE api): what is queued is
 * read from pg-boss's table. No URL is fetched.
 */
describe('Cancelling an import cancels its queued jobs', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let storage: StorageBackend;
  let admin: Credential;
  let product: { id: string };

  beforeAll(async () => {
    storage = await startStorageBackend('local');
    t = await startTestApp({ ...storage.env, SERVICE_ROLE: 'api' });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const res = await call(app, 'POST', '/api/v1/products', admin, { name: 'Cancelled jobs' });
    expect(res.statusCode).toBe(201);
    product = res.json();
  });

  afterAll(async () => {
    await t?.close();
    await storage?.close();
  });

  /** The import's jobs by state. */
  async function jobsOf(importId: string): Promise<Record<string, number>> {
    const rows: { state: string; count: number }[] = await app.get(DataSource).query(
      `SELECT state, count(*)::int AS count FROM ${JOB_SCHEMA}.job
        WHERE name = $1 AND data->>'import_id' = $2 GROUP BY state`,
      [IMPORT_ROWS_QUEUE, decodeId(importId)],
    );
    return Object.fromEntries(rows.map(({ state, count }) => [state, count]));
  }

  it('leaves none of them waiting, and a retry queues jobs that wait', async () => {
    const rows = Array.from({ length: 30 }, (_, i) => ({
      product_id: product.id,
      url: `http://images.invalid/${i}.png`,
    }));
    const posted = await call(app, 'POST', '/api/v1/imports', admin, { rows });
    expect(posted.statusCode).toBe(202);
    const id = posted.json<{ id: string }>().id;
    expect(await jobsOf(id)).toEqual({ created: 3 });

    const cancelled = await call(app, 'POST', `/api/v1/imports/${id}/cancel`, admin);
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.json()).toMatchObject({
      state: 'completed',
      counts: { total: 30, failed: 30, pending: 0 },
    });
    expect(await jobsOf(id)).toEqual({ cancelled: 3 });

    const retried = await call(app, 'POST', `/api/v1/imports/${id}/retry`, admin);
    expect(retried.statusCode).toBe(202);
    expect(retried.json()).toMatchObject({ state: 'processing', counts: { pending: 30 } });
    expect(await jobsOf(id)).toEqual({ cancelled: 3, created: 3 });

    // Cancelled again: the retry's jobs too.
    const again = await call(app, 'POST', `/api/v1/imports/${id}/cancel`, admin);
    expect(again.statusCode).toBe(200);
    expect(await jobsOf(id)).toEqual({ cancelled: 6 });
  });
});
