import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Injectable, Module, type OnModuleInit } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Role } from '../../src/auth/roles';
import { JobQueue } from '../../src/jobs/job-queue.service';
import { JobsModule } from '../../src/jobs/jobs.module';
import { addUser } from '../support/accounts';
import { blockedBackend, holdLock } from '../support/db-faults';
import { eventually } from '../support/eventually';
import { noisyPng, solidJpeg } from '../support/fixtures';
import { authHeaders, call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { ROOT } from '../support/process';
import { RawClient } from '../support/slow-client';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

const TOKEN = 'metrics-token-for-the-tests-0123456789';
const PROBE = 'metrics-probe';

/** A queue whose job fails when asked to, with no retry: one attempt each. */
@Injectable()
class ProbeJobs implements OnModuleInit {
  constructor(private readonly jobs: JobQueue) {}

  onModuleInit(): void {
    this.jobs.define<{ fail: boolean }>({
      name: PROBE,
      retryLimit: 0,
      handler: async ({ fail }) => {
        if (fail) throw new Error('fails on purpose');
        return { ok: true };
      },
    });
  }
}

@Module({ imports: [JobsModule], providers: [ProbeJobs] })
class ProbeJobsModule {}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format: the families (`# TYPE`) and every sample line. */
function parse(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1], type[2]);
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) continue;
    const labels = Object.fromEntries(
      [...(sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    samples.push({ name: sample[1], labels, value: Number(sample[3]) });
  }
  return { types, samples };
}

/** The value of the one sample of `name` whose labels include `labels` (0 when there is none). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  expect(found.length).toBeLessThanOrEqual(1);
  return found[0]?.value ?? 0;
}

/** The families the Grafana dashboard's panels query. */
function dashboardFamilies(): Set<string> {
  const dashboard = JSON.parse(
    readFileSync(join(ROOT, 'ops', 'grafana', 'product-images.json'), 'utf8'),
  ) as { panels: { targets?: { expr: string }[] }[] };
  return new Set(
    dashboard.panels
      .flatMap((panel) => panel.targets ?? [])
      .flatMap(({ expr }) => [...expr.matchAll(/([a-z_][a-z0-9_]*)\{/g)].map((m) => m[1]))
      .map((name) => name.replace(/_(bucket|sum|count)$/, '')),
  );
}

function scrape(app: NestFastifyApplication, token: string | null = TOKEN) {
  return call(app, 'GET', '/metrics', token === null ? undefined : { bearer: token });
}

describe('Metrics (GET /metrics)', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let staff: Credential;

  beforeAll(async () => {
    t = await startTestApp(
      {
        METRICS_TOKEN: TOKEN,
        // One image at a time and none waiting: a second upload meanwhile is 503 server_busy.
        IMAGE_PROCESSING_CONCURRENCY: '1',
        IMAGE_PROCESSING_QUEUE_LIMIT: '0',
        JOB_POLL_INTERVAL_MS: '500',
        // A body that has not kept up 4 KiB a second a second after its headers is cut (408).
        HTTP_HEADERS_TIMEOUT_MS: '1000',
      },
      { imports: [ProbeJobsModule] },
    );
    app = t.app;
    const admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    staff = await addUser(app, admin, 'metrics-staff', Role.Staff);
  });
  afterAll(() => t?.close());

  /** A product's POST by the staff member over a socket, its headers and 4 of its body's bytes. */
  async function productPostBegun(port: number, contentLength: number): Promise<RawClient> {
    const client = await RawClient.connect(port);
    const headers = Object.entries(authHeaders(staff))
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    await client.write(
      `POST /api/v1/products HTTP/1.1\r\nHost: x\r\n${headers}` +
        `Content-Type: application/json\r\nContent-Length: ${contentLength}\r\n\r\n{"na`,
    );
    return client;
  }

  it('refuses a scrape without the token, with another token, or with an API credential', async () => {
    const missing = await scrape(app, null);
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="metrics"');
    expect(missing.json()).toMatchObject({ status: 401, code: 'authentication_required' });

    const wrong = await scrape(app, `${TOKEN}x`);
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ status: 401, code: 'invalid_token' });
    expect(wrong.body).not.toContain(TOKEN);

    // A user's login token opens the API, not the numbers.
    const user = await call(app, 'GET', '/metrics', staff);
    expect(user.statusCode).toBe(401);
    expect(user.json()).toMatchObject({ code: 'invalid_token' });
  });

  it('counts what was done: requests by route, uploads, 503s, processing steps, storage, jobs, the pool and the process', async () => {
    const created = await call(app, 'POST', '/api/v1/products', staff, { name: 'Measured' });
    expect(created.statusCode).toBe(201);
    const product = created.json<{ id: string }>();
    const upload = (data: Buffer, contentType: string) => {
      const body = multipart({}, [{ data, filename: 'image', contentType }]);
      return call(app, 'POST', `/api/v1/products/${product.id}/images`, staff, body.payload, {
        headers: body.headers,
      });
    };

    // Three uploads one after the other: two PNGs and a JPEG.
    const png = await noisyPng(300, 200);
    const jpeg = await solidJpeg(320, 240);
    const sequential = [
      await upload(png, 'image/png'),
      await upload(png, 'image/png'),
      await upload(jpeg, 'image/jpeg'),
    ];
    expect(sequential.map((r) => r.statusCode)).toEqual([201, 201, 201]);
    const imageIds = sequential.map((r) => r.json<{ id: string }>().id);

    // Four at once with one slot and no queue: the first takes the slot, the others are refused.
    const large = await noisyPng(1400, 1000);
    const parallel = await Promise.all([1, 2, 3, 4].map(() => upload(large, 'image/png')));
    const statuses = parallel.map((r) => r.statusCode);
    expect(statuses.every((s) => s === 201 || s === 503)).toBe(true);
    const busy = statuses.filter((s) => s === 503).length;
    expect(busy).toBeGreaterThanOrEqual(1);
    const stored = 3 + statuses.filter((s) => s === 201).length;

    // One job that completes and one that fails.
    const jobs = app.get(JobQueue);
    const sent = [await jobs.send(PROBE, { fail: false }), await jobs.send(PROBE, { fail: true })];
    jobs.wake(PROBE);
    await eventually(async () => {
      const states = await Promise.all(sent.map((id) => jobs.getJob(PROBE, id!)));
      return states.every((job) => job?.state === 'completed' || job?.state === 'failed');
    }, 'the probe jobs to finish');

    // A read by id: its series is the route's pattern, not its URL.
    const read = await call(app, 'GET', `/api/v1/products/${product.id}`, staff);
    expect(read.statusCode).toBe(200);
    expect((await call(app, 'GET', '/no/such/route', staff)).statusCode).toBe(404);

    const res = await scrape(app);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const { types, samples } = parse(res.body);

    // Every family, with its type.
    expect(Object.fromEntries([...types].filter(([name]) => FAMILIES.includes(name)))).toEqual(
      Object.fromEntries(FAMILIES.map((name) => [name, FAMILY_TYPES[name]])),
    );

    // HTTP, by route pattern and status.
    const uploads = '/api/v1/products/:productId/images';
    const http = 'http_request_duration_seconds_count';
    expect(valueOf(samples, http, { method: 'POST', route: uploads, status_code: '201' })).toBe(
      stored,
    );
    expect(valueOf(samples, http, { method: 'POST', route: uploads, status_code: '503' })).toBe(
      busy,
    );
    expect(
      valueOf(samples, http, {
        method: 'GET',
        route: '/api/v1/products/:productId',
        status_code: '200',
      }),
    ).toBe(1);
    expect(valueOf(samples, http, { method: 'GET', route: 'unmatched', status_code: '404' })).toBe(
      1,
    );
    // Bounded: no URL, no id in any label.
    for (const sample of samples) {
      for (const value of Object.values(sample.labels)) {
        for (const id of [product.id, ...imageIds]) expect(value).not.toContain(id);
        expect(value).not.toContain('/no/such/route');
      }
    }

    // Uploads: every image that reached processing, the refused ones too.
    expect(valueOf(samples, 'image_upload_bytes_count')).toBe(3 + parallel.length);
    expect(valueOf(samples, 'image_upload_bytes_sum')).toBe(
      2 * png.length + jpeg.length + parallel.length * large.length,
    );
    expect(valueOf(samples, 'image_processing_server_busy_total', { operation: 'process' })).toBe(
      busy,
    );
    expect(valueOf(samples, 'image_processing_wait_seconds_count')).toBe(stored);

    // Processing steps, by source format: a kept PNG or JPEG is inspected, stripped, decoded,
    // made into renditions and hashed.
    const steps = 'image_processing_duration_seconds_count';
    for (const step of ['inspect', 'strip', 'decode', 'renditions', 'original']) {
      expect({ step, png: valueOf(samples, steps, { step, format: 'png' }) }).toEqual({
        step,
        png: stored - 1,
      });
      expect({ step, jpeg: valueOf(samples, steps, { step, format: 'jpeg' }) }).toEqual({
        step,
        jpeg: 1,
      });
    }
    expect(
      valueOf(samples, 'image_processing_duration_seconds_sum', { step: 'decode', format: 'png' }),
    ).toBeGreaterThan(0);

    // The queue, empty now.
    expect(valueOf(samples, 'image_processing_queue_depth')).toBe(0);
    expect(valueOf(samples, 'image_processing_queued_bytes')).toBe(0);
    expect(valueOf(samples, 'image_processing_active')).toBe(0);
    expect(valueOf(samples, 'image_transform_reads_active')).toBe(0);
    expect(valueOf(samples, 'image_transform_reads_queued')).toBe(0);

    // Storage: an original and three renditions written per stored image, on local disk.
    const storage = 'storage_operation_duration_seconds_count';
    expect(valueOf(samples, storage, { provider: 'local', operation: 'put', outcome: 'ok' })).toBe(
      4 * stored,
    );
    expect(
      valueOf(samples, storage, { provider: 'local', operation: 'check', outcome: 'ok' }),
    ).toBeGreaterThanOrEqual(1);
    expect(valueOf(samples, 'storage_operation_errors_total', { operation: 'put' })).toBe(0);

    // Jobs: the attempts this process ran, and the database's counts by state.
    const job = 'job_duration_seconds_count';
    expect(valueOf(samples, job, { queue: PROBE, outcome: 'completed' })).toBe(1);
    expect(valueOf(samples, job, { queue: PROBE, outcome: 'failed' })).toBe(1);
    expect(valueOf(samples, 'job_failures_total', { queue: PROBE })).toBe(1);
    const counts = (queue: string) =>
      Object.fromEntries(
        samples
          .filter((s) => s.name === 'job_queue_jobs' && s.labels.queue === queue)
          .map((s) => [s.labels.state, s.value]),
      );
    expect(counts(PROBE)).toEqual({ created: 0, retry: 0, active: 0, failed: 1 });
    expect(Object.keys(counts('file-deletion')).sort()).toEqual([
      'active',
      'created',
      'failed',
      'retry',
    ]);

    // The connection pool: a server's node-postgres pool, or the embedded database's one session.
    const pool = (name: string) => valueOf(samples, `db_pool_${name}`);
    if (t.db.env.DATABASE_URL) {
      expect(pool('max_connections')).toBe(10);
      expect(pool('open_connections')).toBeGreaterThanOrEqual(1);
      expect(pool('open_connections')).toBeLessThanOrEqual(10);
      expect(pool('idle_connections')).toBeLessThanOrEqual(pool('open_connections'));
      expect(pool('waiting_clients')).toBeGreaterThanOrEqual(0);
    } else {
      expect([pool('max_connections'), pool('open_connections')]).toEqual([1, 1]);
    }

    // The process.
    expect(valueOf(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(valueOf(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(valueOf(samples, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });

  it("counts the requests Node's parser refused, by reason, and not a client that resets or closes its connection", async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.getHttpServer().address() as { port: number }).port;
    const before = parse((await scrape(app)).body).samples;
    const refused = (reason: string) => valueOf(before, 'http_requests_refused_total', { reason });
    const send = async (bytes: string) => {
      const client = await RawClient.connect(port);
      await client.write(bytes);
      await client.closed;
      return client.answer()?.status;
    };
    // A request a route saw, whose client then leaves mid-body: not one the parser refused.
    const leaving = await productPostBegun(port, 100);
    leaving.socket.end();
    await leaving.closed;
    expect(await send('GET /api/v1/products HTTP/1.1\r\nHost: x\r\nNot A Header\r\n\r\n')).toBe(
      400,
    );
    expect(await send('NOT HTTP AT ALL\r\n\r\n')).toBe(400);
    const big = `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`;
    expect(await send(big)).toBe(431);
    const reset = await RawClient.connect(port);
    await reset.write('GET /api/v1/products HTTP/1.1\r\nHost: x\r\n');
    reset.socket.resetAndDestroy();
    // A client that closes its side mid-headers (HPE_INVALID_EOF_STATE) left; it sent nothing
    // wrong: answered, if it still reads, but not counted as a malformed request.
    const closing = await RawClient.connect(port);
    await closing.write('GET /api/v1/products HTTP/1.1\r\nHost: x\r\n');
    closing.socket.end();
    await closing.closed;
    expect(closing.answer()?.status).toBe(400);

    await eventually(async () => {
      const after = parse((await scrape(app)).body).samples;
      const now = (reason: string) => valueOf(after, 'http_requests_refused_total', { reason });
      return now('malformed') - refused('malformed') === 2;
    }, 'the malformed requests to be counted');
    const after = parse((await scrape(app)).body).samples;
    const now = (reason: string) => valueOf(after, 'http_requests_refused_total', { reason });
    expect(now('malformed') - refused('malformed')).toBe(2);
    expect(now('headers_too_large') - refused('headers_too_large')).toBe(1);
    expect(now('timeout') - refused('timeout')).toBe(0);
    expect(
      after.filter((s) => s.name === 'http_requests_refused_total').map((s) => s.labels),
    ).not.toContainEqual({ reason: 'reset' });
    // The request whose client left mid-body is its route's, with nginx's 499 (client closed).
    const left = { method: 'POST', route: '/api/v1/products', status_code: '499' };
    const count = 'http_request_duration_seconds_count';
    expect(valueOf(after, count, left) - valueOf(before, count, left)).toBe(1);
  });

  it('counts a request it cut for a body too slow as its route’s 408, not as a refusal', async () => {
    const port = (app.getHttpServer().address() as { port: number }).port;
    const count = 'http_request_duration_seconds_count';
    const slow = { method: 'POST', route: '/api/v1/products', status_code: '408' };
    const before = parse((await scrape(app)).body).samples;
    const client = await productPostBegun(port, 100_000);
    await client.closed;
    expect(client.answer()?.status).toBe(408);
    await eventually(async () => {
      const after = parse((await scrape(app)).body).samples;
      return valueOf(after, count, slow) - valueOf(before, count, slow) === 1;
    }, 'the 408 to be counted');
    const refused = parse((await scrape(app)).body).samples;
    expect(valueOf(refused, 'http_requests_refused_total', { reason: 'timeout' })).toBe(
      valueOf(before, 'http_requests_refused_total', { reason: 'timeout' }),
    );
  });

  it('counts a request without a body whose client left before its answer as its route’s 499', async () => {
    if (!app.getHttpServer().listening) await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.getHttpServer().address() as { port: number }).port;
    const { id } = (await call(app, 'POST', '/api/v1/products', staff, { name: 'Left' })).json<{
      id: string;
    }>();
    const count = 'http_request_duration_seconds_count';
    const read = { method: 'GET', route: '/api/v1/products/:productId' };
    const left = { ...read, status_code: '499' };
    const before = parse((await scrape(app)).body).samples;
    // One read answered over a connection, which its client then closes: a 200, nothing else.
    const answered = await fetch(`http://127.0.0.1:${port}/api/v1/products/${id}`, {
      headers: authHeaders(staff),
    });
    expect(answered.status).toBe(200);
    await answered.arrayBuffer();
    // The read waits on the lock until its client has gone: a slow page a proxy gave up on.
    const lock = await holdLock(
      t.db.env.DATABASE_URL,
      'LOCK TABLE products IN ACCESS EXCLUSIVE MODE',
    );
    try {
      const client = await RawClient.connect(port);
      const headers = Object.entries(authHeaders(staff))
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('');
      await client.write(`GET /api/v1/products/${id} HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
      await blockedBackend(t.db.env.DATABASE_URL, /products/);
      client.socket.destroy();
      await client.closed;
    } finally {
      await lock.release();
    }
    await eventually(async () => {
      const after = parse((await scrape(app)).body).samples;
      return valueOf(after, count, left) - valueOf(before, count, left) === 1;
    }, 'the request left to be counted');
    // Once, and never as the 200 its client did not get.
    const after = parse((await scrape(app)).body).samples;
    const ok = { ...read, status_code: '200' };
    expect(valueOf(after, count, ok) - valueOf(before, count, ok)).toBe(1);
    expect(valueOf(after, count, left) - valueOf(before, count, left)).toBe(1);
  });

  it('answers within its deadline while the job count cannot be read, leaving that family empty', async () => {
    const lock = await holdLock(
      t.db.env.DATABASE_URL,
      'LOCK TABLE pgboss.job IN ACCESS EXCLUSIVE MODE',
    );
    try {
      // Without a deadline, the scrape would wait on the lock for as long as it is held.
      const res = await scrape(app);
      expect(res.statusCode).toBe(200);
      const { samples } = parse(res.body);
      expect(samples.filter((s) => s.name === 'job_queue_jobs')).toEqual([]);
      expect(valueOf(samples, 'db_pool_max_connections')).toBeGreaterThan(0);
    } finally {
      await lock.release();
    }
    const { samples } = parse((await scrape(app)).body);
    expect(samples.some((s) => s.name === 'job_queue_jobs')).toBe(true);
  });

  it('has every family the Grafana dashboard queries', async () => {
    const queried = dashboardFamilies();
    expect(queried.size).toBeGreaterThanOrEqual(15);
    const { types } = parse((await scrape(app)).body);
    expect([...queried].filter((name) => !types.has(name))).toEqual([]);
  });

  it("charts every family of the service's own on the Grafana dashboard", async () => {
    const queried = dashboardFamilies();
    const { types } = parse((await scrape(app)).body);
    // The process's own (prom-client's defaults) are charted where they tell something.
    const ours = [...types.keys()].filter((name) => !/^(process|nodejs)_/.test(name));
    expect(ours.filter((name) => !queried.has(name)).sort()).toEqual([]);
  });

  it('is served by a worker, which answers nothing of the API', async () => {
    const worker = await startTestApp({ SERVICE_ROLE: 'worker', METRICS_TOKEN: TOKEN });
    try {
      expect((await scrape(worker.app, null)).statusCode).toBe(401);
      const res = await scrape(worker.app);
      expect(res.statusCode).toBe(200);
      const { samples } = parse(res.body);
      expect(
        samples.filter((s) => s.name === 'job_queue_jobs' && s.labels.queue === 'file-deletion'),
      ).toHaveLength(4);
      // (service-roles.e2e-spec.ts checks the API's routes on a worker process.)
      expect((await call(worker.app, 'GET', '/docs-json')).statusCode).toBe(404);
    } finally {
      await worker.close();
    }
  });

  it('is no route at all without METRICS_TOKEN', async () => {
    const plain = await startTestApp();
    try {
      for (const token of [null, TOKEN]) {
        const res = await scrape(plain.app, token);
        expect(res.statusCode).toBe(404);
        expect(res.json()).toMatchObject({ status: 404, code: 'route_not_found' });
      }
    } finally {
      await plain.close();
    }
  });
});

const FAMILY_TYPES: Record<string, string> = {
  http_request_duration_seconds: 'histogram',
  image_upload_bytes: 'histogram',
  image_processing_duration_seconds: 'histogram',
  image_processing_wait_seconds: 'histogram',
  image_processing_queue_depth: 'gauge',
  image_processing_queued_bytes: 'gauge',
  image_processing_active: 'gauge',
  image_transform_reads_active: 'gauge',
  image_transform_reads_queued: 'gauge',
  image_processing_server_busy_total: 'counter',
  image_svg_renders_stopped_total: 'counter',
  storage_operation_duration_seconds: 'histogram',
  storage_operation_errors_total: 'counter',
  job_duration_seconds: 'histogram',
  job_failures_total: 'counter',
  job_queue_jobs: 'gauge',
  db_pool_max_connections: 'gauge',
  db_pool_open_connections: 'gauge',
  db_pool_idle_connections: 'gauge',
  db_pool_waiting_clients: 'gauge',
  process_cpu_user_seconds_total: 'counter',
  process_resident_memory_bytes: 'gauge',
  nodejs_heap_size_used_bytes: 'gauge',
  nodejs_eventloop_lag_seconds: 'gauge',
};
const FAMILIES = Object.keys(FAMILY_TYPES);
