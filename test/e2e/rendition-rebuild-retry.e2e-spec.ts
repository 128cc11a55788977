import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { decodeId } from '../../src/common/ids/short-id';
import { IMAGE_REBUILD_QUEUE } from '../../src/images/renditions/image-rebuild.job';
import { RenditionMaker } from '../../src/images/renditions/rendition-maker.service';
import { JobQueue } from '../../src/jobs/job-queue.service';
import { eventually, eventuallyRead } from '../support/eventually';
import { solidJpeg } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

interface Run {
  id: string;
  state: string;
  total: number;
  done: number;
  failed: number;
}
interface Job {
  id: string;
  state: string;
  queue: string;
}

/**
 * The README's poisoned-job procedure for a rendition rebuild: the storage down while the run
 * works, an image's job fails for good and is counted failed; fixed, an admin retries the job
 * (`POST /api/v1/jobs/{id}/retry`), and the run counts the image done instead.
 */
describe('A rendition rebuild job retried by an admin after it failed for good', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let storage: StorageBackend;
  let admin: Credential;

  beforeAll(async () => {
    storage = await startStorageBackend('local');
    t = await startTestApp({ ...storage.env, JOB_POLL_INTERVAL_MS: '500' });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    await t?.close();
    await storage?.close();
  });

  it('counts the image re-made by the retry as done, not failed', async () => {
    const db = app.get(DataSource);
    const jobs = app.get(JobQueue);
    const maker = app.get(RenditionMaker);
    const product = (await call(app, 'POST', '/api/v1/products', admin, { name: 'Rebuilt' })).json<{
      id: string;
    }>().id;
    const body = multipart({}, [{ data: await solidJpeg(), contentType: 'image/jpeg' }]);
    const uploaded = await call(
      app,
      'POST',
      `/api/v1/products/${product}/images`,
      admin,
      body.payload,
      { headers: body.headers },
    );
    expect(uploaded.statusCode).toBe(201);
    const imageId = decodeId(uploaded.json<{ id: string }>().id)!;
    // The image was made with other presets than this instance's.
    await db.query(`UPDATE images SET rendition_set = 'thumb:1x1:cover' WHERE id = $1`, [imageId]);

    // The storage is down while the run works: every attempt of the image's job fails.
    const make = jest
      .spyOn(maker, 'make')
      .mockRejectedValue(new Error('The image storage is unavailable'));
    const started = await call(app, 'POST', '/api/v1/renditions/rebuilds', admin);
    expect(started.statusCode).toBe(202);
    const runId = started.json<Run>().id;
    const readRun = async () =>
      (await call(app, 'GET', `/api/v1/renditions/rebuilds/${runId}`, admin)).json<Run>();
    const readJob = async () => {
      const res = await call(app, 'GET', `/api/v1/jobs?queue=${IMAGE_REBUILD_QUEUE}`, admin);
      return res.json<{ items: Job[] }>().items[0];
    };
    // Its retries' back-off (30 s and more) skipped: each retry is due at once.
    const failedJob = await eventuallyRead(
      async () => {
        await db.query(
          `UPDATE pgboss.job SET start_after = now() WHERE name = $1 AND state = 'retry'`,
          [IMAGE_REBUILD_QUEUE],
        );
        jobs.wake(IMAGE_REBUILD_QUEUE);
        return readJob();
      },
      (job) => job?.state === 'failed',
      'the rebuild job to fail for good',
      60_000,
    );
    const counted = await eventuallyRead(
      readRun,
      (run) => run.state === 'completed',
      'the run to count it',
      30_000,
    );
    expect(counted).toMatchObject({ total: 1, done: 0, failed: 1 });

    // The storage is back; the admin retries the job, as the README's "poisoned job" says.
    make.mockRestore();
    const retried = await call(app, 'POST', `/api/v1/jobs/${failedJob.id}/retry`, admin);
    expect(retried.statusCode).toBe(202);
    await eventually(
      async () => (await readJob()).state === 'completed',
      'the retried job to complete',
    );
    const [image] = await db.query<{ rendition_set: string }[]>(
      `SELECT rendition_set FROM images WHERE id = $1`,
      [imageId],
    );
    expect(image.rendition_set).toBe(maker.renditionSet); // re-made

    // Counted done now, not failed (the CLI exits 0 for the run).
    expect(await readRun()).toMatchObject({ total: 1, done: 1, failed: 0 });
  });
});
