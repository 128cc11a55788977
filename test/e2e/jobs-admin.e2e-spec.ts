import { Injectable, Module, type OnModuleInit } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { AccountsService } from '../../src/auth/accounts.service';
import { Role, Scope } from '../../src/auth/roles';
import { decodeId, encodeShortId } from '../../src/common/ids/short-id';
import { JobQueue } from '../../src/jobs/job-queue.service';
import { JobsModule } from '../../src/jobs/jobs.module';
import { addUser, otherOrganisationAdmin } from '../support/accounts';
import { eventuallyRead } from '../support/eventually';
import { solidJpeg } from '../support/fixtures';
import { authHeaders, call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

const FLAKY = 'probe-flaky';
const STEADY = 'probe-steady';
const QUERY = 'probe-query';

/** Statements the database refuses, each naming a value that must not reach the jobs API. */
const REFUSED: Record<string, (secret: string) => [string, unknown[]]> = {
  // 23503: the message names the constraint only; the parameters and PostgreSQL's detail, the values.
  'a foreign key violation': (secret) => [
    'INSERT INTO products (organization_id, name, slug) VALUES ($1, $2, $3)',
    [crypto.randomUUID(), secret, secret],
  ],
  // 22P02: PostgreSQL's message itself quotes the value.
  'a malformed value': (secret) => ['SELECT $1::uuid AS id', [secret]],
};

const secretOf = (jobId: string) => `secret-value-${jobId}`;

/**
 * Three queues of a test feature, the service's own (serviceWide: their jobs need name no
 * organisation to be shown): `probe-flaky` fails the first attempt of each job (with no retry
 * left, so the job fails for good) and succeeds on the next; `probe-steady` always succeeds;
 * `probe-query` runs a statement the database refuses (REFUSED), which fails it for good.
 */
@Injectable()
class ProbeJobs implements OnModuleInit {
  constructor(
    private readonly jobs: JobQueue,
    private readonly dataSource: DataSource,
  ) {}

  onModuleInit(): void {
    this.jobs.define<{ label: string }>({
      name: FLAKY,
      serviceWide: true,
      retryLimit: 0,
      handler: async ({ label }, job) => {
        if (job.retryCount === 0) throw new Error(`${label} fails on purpose`);
        return { label };
      },
    });
    this.jobs.define({ name: STEADY, serviceWide: true, handler: async () => ({ ok: true }) });
    this.jobs.define<{ statement: string }>({
      name: QUERY,
      serviceWide: true,
      retryLimit: 0,
      // The value is not in the job's data, which the jobs API shows.
      handler: async ({ statement }, job) => {
        await this.dataSource.query(...REFUSED[statement](secretOf(job.id)));
      },
    });
  }
}

@Module({ imports: [JobsModule], providers: [ProbeJobs] })
class ProbeJobsModule {}

interface ListedJob {
  id: string;
  queue: string;
  state: string;
  data: Record<string, unknown> | null;
  retry_count: number;
  retry_limit: number;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  error: string | null;
}

describe('Jobs for admins (/api/v1/jobs)', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let jobs: JobQueue;
  const c: Record<string, Credential> = {};

  beforeAll(async () => {
    t = await startTestApp({ JOB_POLL_INTERVAL_MS: '500' }, { imports: [ProbeJobsModule] });
    app = t.app;
    jobs = app.get(JobQueue);
    c.admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    c.staff = await addUser(app, c.admin, 'stella', Role.Staff);
    c.other = await otherOrganisationAdmin(app, 'elsewhere', 'elsa');
  });
  afterAll(() => t?.close());

  const get = (url: string, as = c.admin) => call(app, 'GET', url, as);

  /** Queues a job and lets this process's worker take it at once. */
  async function queue(name: string, data: object): Promise<string> {
    const id = await jobs.send(name, data);
    jobs.wake(name);
    return encodeShortId(id!);
  }

  async function stateOf(id: string): Promise<ListedJob> {
    const res = await get(`/api/v1/jobs/${id}`);
    expect(res.statusCode).toBe(200);
    return res.json<ListedJob>();
  }

  it('lists a job that failed for good under ?state=failed, with its error message only', async () => {
    const id = await queue(FLAKY, { label: 'first' });
    await eventuallyRead(
      () => stateOf(id),
      (job) => job.state === 'failed',
      'the job to fail',
    );

    const res = await get(`/api/v1/jobs?state=failed&queue=${FLAKY}`);
    expect(res.statusCode).toBe(200);
    const { items, next_cursor } = res.json<{ items: ListedJob[]; next_cursor: string | null }>();
    expect(next_cursor).toBeNull();
    expect(items).toEqual([
      {
        id,
        queue: FLAKY,
        state: 'failed',
        data: { label: 'first' },
        retry_count: 0,
        retry_limit: 0,
        created_at: expect.any(String),
        started_at: expect.any(String),
        completed_at: expect.any(String),
        error: 'first fails on purpose',
      },
    ]);
    // The message, never the stack pg-boss keeps beside it.
    expect(res.body).not.toMatch(/\bat .*\.(ts|js):\d+/);
    expect((await get('/api/v1/jobs?state=completed')).json().items).not.toContainEqual(
      expect.objectContaining({ id }),
    );
  });

  it.each(Object.keys(REFUSED))(
    'keeps and shows of a job failed by %s a message and its SQLSTATE, never the SQL or its values',
    async (statement) => {
      // What the handler throws: TypeORM's error, with the statement and its values.
      const probe = secretOf(crypto.randomUUID());
      await expect(app.get(DataSource).query(...REFUSED[statement](probe))).rejects.toMatchObject({
        name: 'QueryFailedError',
        parameters: expect.arrayContaining([probe]),
      });

      const id = await queue(QUERY, { statement });
      const job = await eventuallyRead(
        () => stateOf(id),
        (j) => j.state === 'failed',
        'the job to fail',
      );
      const [code, message] =
        statement === 'a malformed value'
          ? ['22P02', 'A database operation failed (SQLSTATE 22P02).']
          : [
              '23503',
              'A database operation failed (SQLSTATE 23503, constraint FK_products_organization).',
            ];
      expect(job.error).toBe(message);

      // What pg-boss stored: the same, nothing else (no query, parameters, detail or stack).
      const [stored] = await app
        .get(DataSource)
        .query<{ output: Record<string, unknown> }[]>(
          'SELECT output FROM pgboss.job WHERE id = $1',
          [decodeId(id)],
        );
      expect(stored.output).toEqual({
        name: 'QueryFailedError',
        message,
        code,
      });
      const shown = await get(`/api/v1/jobs?state=failed&queue=${QUERY}`);
      for (const text of [JSON.stringify(stored.output), shown.body]) {
        expect(text).not.toContain('secret-value');
        expect(text).not.toMatch(/INSERT INTO|SELECT \$1|Key \(|\bat .*\.(ts|js):\d+/);
      }
    },
  );

  it('shows one job by its id or UUID; an unknown id is 404 job_not_found, a malformed one 400', async () => {
    const id = await queue(FLAKY, { label: 'shown' });
    const job = await eventuallyRead(
      () => stateOf(id),
      (j) => j.state === 'failed',
      'the job to fail',
    );
    expect(job).toMatchObject({ id, queue: FLAKY, error: 'shown fails on purpose' });
    expect((await get(`/api/v1/jobs/${decodeId(id)}`)).json()).toEqual(job);

    const unknown = await get(`/api/v1/jobs/${encodeShortId(crypto.randomUUID())}`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(unknown.json()).toMatchObject({ status: 404, code: 'job_not_found' });
    const malformed = await get('/api/v1/jobs/not-an-id');
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().code).toBe('invalid_id');
  });

  it('retries a failed job: 202 with the job back in its queue, which then runs again', async () => {
    const id = await queue(FLAKY, { label: 'retried' });
    await eventuallyRead(
      () => stateOf(id),
      (job) => job.state === 'failed',
      'the job to fail',
    );

    const res = await call(app, 'POST', `/api/v1/jobs/${id}/retry`, c.admin);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ id, queue: FLAKY, retry_limit: 1 });
    // Back in the queue: waiting, or already taken by this process's worker.
    expect(['retry', 'active', 'completed']).toContain(res.json().state);

    const done = await eventuallyRead(
      () => stateOf(id),
      (job) => job.state === 'completed',
      'the job to complete',
    );
    expect(done).toMatchObject({ retry_count: 1, error: null, completed_at: expect.any(String) });
    expect((await get(`/api/v1/jobs?state=failed&queue=${FLAKY}`)).json().items).not.toContainEqual(
      expect.objectContaining({ id }),
    );
  });

  it('refuses to retry a job that is not failed: 409 job_not_failed; an unknown one is 404', async () => {
    const id = await queue(STEADY, {});
    await eventuallyRead(
      () => stateOf(id),
      (job) => job.state === 'completed',
      'the job to complete',
    );
    const res = await call(app, 'POST', `/api/v1/jobs/${id}/retry`, c.admin);
    expect(res.statusCode).toBe(409);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({
      status: 409,
      code: 'job_not_failed',
      detail: 'The job is completed: only a failed job can be retried.',
    });
    const unknown = await call(
      app,
      'POST',
      `/api/v1/jobs/${encodeShortId(crypto.randomUUID())}/retry`,
      c.admin,
    );
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('job_not_found');
  });

  it('pages through the jobs newest first by cursor, jobs queued together included', async () => {
    // One statement: the five share their created_on, and the pages are ordered by id among them.
    await jobs.sendMany(
      STEADY,
      [1, 2, 3, 4, 5].map((n) => ({ n })),
    );
    await queue(STEADY, { n: 6 });
    const seen: ListedJob[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/api/v1/jobs?queue=${STEADY}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await get(url);
      expect(res.statusCode).toBe(200);
      const page = res.json<{ items: ListedJob[]; next_cursor: string | null }>();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);

    const all = (await get(`/api/v1/jobs?queue=${STEADY}&limit=100`)).json().items as ListedJob[];
    expect(seen.map((j) => j.id)).toEqual(all.map((j) => j.id));
    expect(new Set(seen.map((j) => j.id)).size).toBe(seen.length);
    expect(seen.map((j) => j.data?.n).filter((n) => n !== undefined)).toEqual(
      expect.arrayContaining([1, 2, 3, 4, 5, 6]),
    );
    expect(seen[0].data).toEqual({ n: 6 });
    const times = seen.map((j) => Date.parse(j.created_at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it("refuses one list's cursor under other filters with 400 invalid_cursor", async () => {
    await jobs.sendMany(STEADY, [{ n: 'a' }, { n: 'b' }]);
    const first = await get(`/api/v1/jobs?queue=${STEADY}&limit=1`);
    const cursor = first.json<{ next_cursor: string | null }>().next_cursor;
    expect(cursor).toEqual(expect.any(String));
    for (const filters of [
      '',
      `queue=${FLAKY}&`,
      'state=completed&',
      `state=failed&queue=${STEADY}&`,
    ]) {
      const res = await get(`/api/v1/jobs?${filters}cursor=${cursor}`);
      expect({ filters, status: res.statusCode, code: res.json().code }).toEqual({
        filters,
        status: 400,
        code: 'invalid_cursor',
      });
    }
    const same = await get(`/api/v1/jobs?limit=1&queue=${STEADY}&cursor=${cursor}`);
    expect(same.statusCode).toBe(200);
    expect(same.json().items).toHaveLength(1);
  });

  it('refuses a cursor it did not make, an unknown queue and an unknown state with 400', async () => {
    const forged = Buffer.from(
      JSON.stringify(['2024-02-30T00:00:00.000000Z', crypto.randomUUID(), 'jobs']),
    );
    for (const cursor of ['nonsense', forged.toString('base64url')]) {
      const res = await get(`/api/v1/jobs?cursor=${cursor}`);
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('invalid_cursor');
    }
    const queue = await get('/api/v1/jobs?queue=no-such-queue');
    expect(queue.statusCode).toBe(400);
    expect(queue.json()).toMatchObject({
      code: 'validation_failed',
      errors: [{ field: 'queue', message: expect.stringContaining(FLAKY) }],
    });
    const state = await get('/api/v1/jobs?state=broken');
    expect(state.statusCode).toBe(400);
    expect(state.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'state' }] });
  });

  it('is for admins with images:read (to retry, images:write) only: 403 for staff, 401 without a credential', async () => {
    const id = await queue(STEADY, {});
    const keyWith = async (scopes: Scope[]) => ({
      apiKey: (
        await call(app, 'POST', '/api/v1/api-keys', c.admin, {
          name: scopes.join(' ') || 'no images',
          role: Role.Admin,
          scopes,
        })
      ).json().key as string,
    });
    const keysOnly = await keyWith([Scope.ApiKeysManage]);
    const reader = await keyWith([Scope.ImagesRead]);
    for (const [method, url, needs] of [
      ['GET', '/api/v1/jobs', Scope.ImagesRead],
      ['GET', `/api/v1/jobs/${id}`, Scope.ImagesRead],
      ['POST', `/api/v1/jobs/${id}/retry`, Scope.ImagesWrite],
    ] as const) {
      const staff = await call(app, method, url, c.staff);
      expect({ url, status: staff.statusCode, code: staff.json().code }).toEqual({
        url,
        status: 403,
        code: 'insufficient_role',
      });
      const unscoped = await call(app, method, url, needs === Scope.ImagesRead ? keysOnly : reader);
      expect({ url, status: unscoped.statusCode, scopes: unscoped.json().required_scopes }).toEqual(
        { url, status: 403, scopes: [needs] },
      );
      if (method === 'GET') expect((await call(app, method, url, reader)).statusCode).toBe(200);
      const anonymous = await call(app, method, url);
      expect(anonymous.statusCode).toBe(401);
    }
  });

  it("keeps an organisation's jobs to its own admins; the service's own jobs are everyone's", async () => {
    const accounts = app.get(AccountsService);
    const elsewhere = await accounts.findOrCreateOrganization('elsewhere');
    const theirs = await queue(STEADY, { organization_id: elsewhere.id });
    const service = await queue(STEADY, { keys: ['a/b.jpg'] });

    const ours = await get(`/api/v1/jobs/${theirs}`);
    expect(ours.statusCode).toBe(404);
    expect(ours.json().code).toBe('job_not_found');
    const retry = await call(app, 'POST', `/api/v1/jobs/${theirs}/retry`, c.admin);
    expect(retry.statusCode).toBe(404);
    const listed = (await get(`/api/v1/jobs?queue=${STEADY}&limit=100`)).json()
      .items as ListedJob[];
    expect(listed.map((j) => j.id)).toContain(service);
    expect(listed.map((j) => j.id)).not.toContain(theirs);

    expect((await get(`/api/v1/jobs/${theirs}`, c.other)).statusCode).toBe(200);
    expect((await get(`/api/v1/jobs/${service}`, c.other)).statusCode).toBe(200);
  });

  it("shows no admin a job that names no organisation on a queue whose jobs are an organisation's (one queued before they named it)", async () => {
    // As a version before 2026-12-02 queued a rebuild's deletions: any organisation's keys.
    const legacy = await queue('file-deletion', { keys: ['products/legacy/one.jpg'] });
    for (const as of [c.admin, c.other]) {
      expect((await get(`/api/v1/jobs/${legacy}`, as)).statusCode).toBe(404);
      const listed = (await get('/api/v1/jobs?queue=file-deletion&limit=100', as)).json()
        .items as ListedJob[];
      expect(listed.map((j) => j.id)).not.toContain(legacy);
    }
  });

  it("names the organisation in the jobs its requests queue: another's admin never sees them", async () => {
    const product = await call(app, 'POST', '/api/v1/products', c.admin, {
      name: 'Lamp',
      slug: 'lamp',
    });
    const gallery = `/api/v1/products/${product.json().id}/images`;
    const form = multipart({}, [{ data: await solidJpeg(), contentType: 'image/jpeg' }]);
    const upload = await app.inject({
      method: 'POST',
      url: gallery,
      headers: { ...authHeaders(c.admin), ...form.headers },
      payload: form.payload,
    });
    expect(upload.statusCode).toBe(201);
    const removed = await call(app, 'DELETE', `${gallery}/${upload.json().id}`, c.admin);
    expect(removed.statusCode).toBe(204);
    const imported = await app.inject({
      method: 'POST',
      url: '/api/v1/imports',
      headers: { ...authHeaders(c.admin), 'content-type': 'text/csv' },
      // A loopback URL: the row fails at the address check, and nothing leaves the machine.
      payload: `product_id,url\n${product.json().id},http://127.0.0.1:9/a.jpg\n`,
    });
    expect(imported.statusCode).toBe(202);
    // A rendition rebuild of another image of it: the service's run, this organisation's image.
    const kept = await app.inject({
      method: 'POST',
      url: gallery,
      headers: { ...authHeaders(c.admin), ...form.headers },
      payload: form.payload,
    });
    expect(kept.statusCode).toBe(201);
    await app
      .get(DataSource)
      .query(`UPDATE images SET rendition_set = 'older presets' WHERE id = $1`, [
        decodeId(kept.json().id),
      ]);
    const run = await call(app, 'POST', '/api/v1/renditions/rebuilds', c.admin);
    expect(run.statusCode).toBe(202);
    await eventuallyRead(
      () => get(`/api/v1/renditions/rebuilds/${run.json().id}`),
      (res) => res.json().state === 'completed',
      'the rebuild to complete',
    );

    const listed = async (as: Credential) => {
      const pages = await Promise.all(
        ['bulk-import-rows', 'file-deletion', 'renditions-rebuild'].map(
          async (name) => (await get(`/api/v1/jobs?queue=${name}&limit=100`, as)).json().items,
        ),
      );
      return (pages.flat() as ListedJob[]).map((job) => [job.queue, job.id] as const);
    };
    const ours = await listed(c.admin);
    // The import's row; the deleted image's files and the files the rebuild replaced; the rebuild.
    expect(ours.map(([queueName]) => queueName).sort()).toEqual([
      'bulk-import-rows',
      'file-deletion',
      'file-deletion',
      'renditions-rebuild',
    ]);
    expect(await listed(c.other)).toEqual([]);
    for (const [, id] of ours) {
      expect((await get(`/api/v1/jobs/${id}`, c.other)).statusCode).toBe(404);
      const retry = await call(app, 'POST', `/api/v1/jobs/${id}/retry`, c.other);
      expect(retry.statusCode).toBe(404);
    }
  });
});
