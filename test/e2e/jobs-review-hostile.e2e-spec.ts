import { Injectable, Module, type OnModuleInit } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Role } from '../../src/auth/roles';
import { encodeShortId } from '../../src/common/ids/short-id';
import { JobQueue } from '../../src/jobs/job-queue.service';
import { JobsModule } from '../../src/jobs/jobs.module';
import { addUser } from '../support/accounts';
import { eventuallyRead } from '../support/eventually';
import { call, login, type Credential } from '../support/http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

const FAILING = 'review-failing';
const MESSAGE = 'review-message';

@Injectable()
class ReviewJobs implements OnModuleInit {
  constructor(private readonly jobs: JobQueue) {}

  onModuleInit(): void {
    this.jobs.define<{ label: string }>({
      name: FAILING,
      serviceWide: true,
      retryLimit: 0,
      handler: async ({ label }, job) => {
        if (job.retryCount === 0) throw new Error(`${label} fails on purpose`);
        await new Promise((resolve) => setTimeout(resolve, 300));
        return { label };
      },
    });
    this.jobs.define<{ message: string }>({
      name: MESSAGE,
      serviceWide: true,
      retryLimit: 0,
      handler: async ({ message }) => {
        throw new Error(message);
      },
    });
  }
}

@Module({ imports: [JobsModule], providers: [ReviewJobs] })
class ReviewJobsModule {}

describe('Jobs for admins: hostile requests, concurrent retries, error details', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let jobs: JobQueue;
  const c: Record<string, Credential> = {};

  beforeAll(async () => {
    t = await startTestApp({ JOB_POLL_INTERVAL_MS: '500' }, { imports: [ReviewJobsModule] });
    app = t.app;
    jobs = app.get(JobQueue);
    c.admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    c.staff = await addUser(app, c.admin, 'stella', Role.Staff);
  });
  afterAll(() => t?.close());

  const get = (url: string, as = c.admin) => call(app, 'GET', url, as);

  async function queue(name: string, data: object): Promise<string> {
    const id = await jobs.send(name, data);
    jobs.wake(name);
    return encodeShortId(id!);
  }

  it('answers hostile list parameters with a problem, never a 500', async () => {
    const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const urls = [
      '/api/v1/jobs?limit=-1',
      '/api/v1/jobs?limit=0',
      '/api/v1/jobs?limit=1e400',
      '/api/v1/jobs?limit=99999999999999999999999',
      '/api/v1/jobs?limit=%00',
      '/api/v1/jobs?limit=1.5',
      '/api/v1/jobs?limit=1&limit=2',
      '/api/v1/jobs?state=failed&state=failed',
      '/api/v1/jobs?state=%00',
      '/api/v1/jobs?state=FAILED',
      '/api/v1/jobs?queue=a&queue=b',
      '/api/v1/jobs?queue=%00',
      '/api/v1/jobs?queue=' + 'a'.repeat(5000),
      '/api/v1/jobs?cursor=a&cursor=b',
      '/api/v1/jobs?cursor=%00',
      '/api/v1/jobs?cursor=' + 'a'.repeat(5000),
      `/api/v1/jobs?cursor=${cursor(['9999-12-31T23:59:59.999999Z', crypto.randomUUID(), 'jobs'])}`,
      `/api/v1/jobs?cursor=${cursor(['0001-01-01T00:00:00.000000Z', crypto.randomUUID(), 'jobs'])}`,
      `/api/v1/jobs?cursor=${cursor(['2026-01-01T24:00:00.000000Z', crypto.randomUUID(), 'jobs'])}`,
      `/api/v1/jobs?cursor=${cursor(['2026-01-01T00:00:00.000000Z', '00000000-0000-0000-0000-000000000000', 'jobs'])}`,
      `/api/v1/jobs?cursor=${cursor({ 0: 'x' })}`,
      '/api/v1/jobs/%00',
      '/api/v1/jobs/' + 'a'.repeat(5000),
      '/api/v1/jobs/00000000-0000-0000-0000-000000000000',
      '/api/v1/jobs?state[]=failed',
      '/api/v1/jobs?state[a]=failed',
      '/api/v1/jobs?__proto__[x]=1',
      '/api/v1/jobs?constructor[prototype][x]=1',
    ];
    for (const url of urls) {
      const res = await get(url);
      expect({ url, status: res.statusCode < 500, type: res.headers['content-type'] }).toEqual({
        url,
        status: true,
        type: expect.stringMatching(
          res.statusCode === 200 ? /^application\/json/ : /^application\/problem\+json/,
        ),
      });
    }
  });

  it('retries a failed job once when two retries come at once', async () => {
    const id = await queue(FAILING, { label: 'twice' });
    await eventuallyRead(
      () => get(`/api/v1/jobs/${id}`).then((r) => r.json()),
      (job) => job.state === 'failed',
      'the job to fail',
    );
    const answers = await Promise.all(
      [1, 2, 3, 4].map(() => call(app, 'POST', `/api/v1/jobs/${id}/retry`, c.admin)),
    );
    const statuses = answers.map((a) => a.statusCode).sort();
    expect(statuses).toEqual([202, 409, 409, 409]);
    const done = await eventuallyRead(
      () => get(`/api/v1/jobs/${id}`).then((r) => r.json()),
      (job) => job.state === 'completed',
      'the job to complete',
    );
    expect(done.retry_limit).toBe(1);
    const again = await call(app, 'POST', `/api/v1/jobs/${id}/retry`, c.admin);
    expect(again.statusCode).toBe(409);
  });

  it('retrying a waiting (retry-state) or active job is 409', async () => {
    const id = await queue(FAILING, { label: 'active' });
    await eventuallyRead(
      () => get(`/api/v1/jobs/${id}`).then((r) => r.json()),
      (job) => job.state === 'failed',
      'the job to fail',
    );
    expect((await call(app, 'POST', `/api/v1/jobs/${id}/retry`, c.admin)).statusCode).toBe(202);
    const second = await call(app, 'POST', `/api/v1/jobs/${id}/retry`, c.admin);
    expect(second.statusCode).toBe(409);
  });

  it("shows of another's error message no file path nor a presigned URL's signature", async () => {
    const id = await queue(MESSAGE, {
      message:
        "ENOENT: no such file or directory, open '/srv/pis/data/tmp/upload-123' at https://bucket.s3.amazonaws.com/a.jpg?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIAXXX",
    });
    const job = await eventuallyRead(
      () => get(`/api/v1/jobs/${id}`).then((r) => r.json()),
      (j) => j.state === 'failed',
      'the job to fail',
    );
    expect(job.error).toBe(
      "ENOENT: no such file or directory, open '[path]' at https://bucket.s3.amazonaws.com/…",
    );
    const listed = await get(`/api/v1/jobs?state=failed&queue=${MESSAGE}`);
    // The error only: the job's data here holds the message thrown, as a test's handler needs it.
    expect(listed.json().items.map((item: { error: string }) => item.error)).toEqual([job.error]);
  });
});
