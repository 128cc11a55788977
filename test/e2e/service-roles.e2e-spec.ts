import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  inheritedEnv,
  ROOT,
  startService,
  waitForStatus,
  type RunningService,
} from '../support/process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { probeJobs, ROLE_PROBE_PRELOAD, stillRunning, type ProbeJob } from '../support/role-probe';

const PROBE_JOBS = 6;

/** The pid the service logs on its start-up line (pino writes its pid on every line). */
function startUpLine(output: string): { pid: number; msg: string } | undefined {
  const line = output.split('\n').find((l) => l.includes('"msg":"Listening on'));
  return line ? (JSON.parse(line) as { pid: number; msg: string }) : undefined;
}

/** `npm run worker`, as an operator starts a worker, with exactly these variables besides. */
function npmRunWorker(env: Record<string, string>): RunningService {
  const child = spawn('npm', ['run', 'worker'], {
    cwd: ROOT,
    env: { ...inheritedEnv(), HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  return { child, output: () => output, exit };
}

/**
 * SERVICE_ROLE as separate processes of the built service on one PostgreSQL database (roles
 * need a server: the embedded database belongs to one process): an `api` process serves the API
 * and queues jobs without running them; a worker (`npm run worker`) runs them and serves only the
 * health probes.
 */
const onServer = process.env.TEST_DATABASE_URL ? describe : describe.skip;

onServer('Service roles as separate processes', () => {
  let db: TestDatabase;
  let cwd: string;
  let api: RunningService;
  let worker: RunningService;
  let apiUrl: string;
  let workerUrl: string;
  let queuedBeforeTheWorker: ProbeJob[];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    cwd = mkdtempSync(join(tmpdir(), 'pis-roles-'));
    const common = {
      ...db.env,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      JOB_POLL_INTERVAL_MS: '500',
      NODE_OPTIONS: `--require ${ROLE_PROBE_PRELOAD}`,
      ADMIN_EMAIL: 'admin@roles.example',
      ADMIN_PASSWORD: 'service roles admin password',
    };
    const apiPort = await freePort();
    apiUrl = `http://127.0.0.1:${apiPort}`;
    // The api queues its probe jobs as it starts, before it answers.
    api = startService(
      {
        ...common,
        PORT: String(apiPort),
        SERVICE_ROLE: 'api',
        ROLE_PROBE_JOBS: String(PROBE_JOBS),
      },
      cwd,
    );
    await waitForStatus(`${apiUrl}/health/ready`, 200, 90_000);
    queuedBeforeTheWorker = await probeJobs(db.url);

    // While the worker starts, the api polls its queues too, were it to run jobs.
    const workerPort = await freePort();
    workerUrl = `http://127.0.0.1:${workerPort}`;
    worker = npmRunWorker({ ...common, PORT: String(workerPort), SERVICE_ROLE: 'api' });
    await waitForStatus(`${workerUrl}/health/ready`, 200, 90_000);
  });

  afterAll(async () => {
    // Only the processes this file started, whatever failed.
    for (const service of [api, worker]) {
      if (service && stillRunning(service.child)) service.child.kill('SIGKILL');
    }
    const pid = worker && startUpLine(worker.output())?.pid;
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await db?.drop();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('says its role when it starts; npm run worker is a worker whatever SERVICE_ROLE says', () => {
    expect(startUpLine(api.output())?.msg).toMatch(
      new RegExp(`^Listening on ${apiUrl} as role "api" .*API documentation at ${apiUrl}/docs$`),
    );
    expect(startUpLine(worker.output())?.msg).toBe(
      `Listening on ${workerUrl} as role "worker" (background jobs; HTTP for /health and /metrics only)`,
    );
  });

  it('a worker answers the health probes, and 404 route_not_found for any other route', async () => {
    expect((await fetch(`${workerUrl}/health`)).status).toBe(200);
    const ready = await fetch(`${workerUrl}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ok' });

    for (const [method, path] of [
      ['GET', '/api/v1/products'],
      ['POST', '/api/v1/auth/login'],
      ['GET', '/api/v1/jobs'],
      ['DELETE', '/api/v1/products'],
      ['GET', '/docs-json'],
      ['GET', '/no-such-route'],
    ]) {
      const res = await fetch(`${workerUrl}${path}`, {
        method,
        ...(method === 'POST'
          ? {
              headers: { 'content-type': 'application/json' },
              body: '{"username":"admin","password":"x"}',
            }
          : {}),
      });
      expect({ path, status: res.status, type: res.headers.get('content-type') }).toEqual({
        path,
        status: 404,
        type: expect.stringMatching(/^application\/problem\+json/),
      });
      expect(await res.json()).toMatchObject({ status: 404, code: 'route_not_found' });
      expect(res.headers.get('x-request-id')).toBeTruthy();
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    // A probe under another method: 405, naming the probe's methods only.
    const wrong = await fetch(`${workerUrl}/health`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    // The same routes are there on the api.
    expect((await fetch(`${apiUrl}/api/v1/products`)).status).toBe(401);
    expect((await fetch(`${apiUrl}/api/v1/products`, { method: 'DELETE' })).status).toBe(405);
    expect((await fetch(`${apiUrl}/docs-json`)).status).toBe(200);
  });

  it('jobs the api queued wait for a worker, and only the worker runs them', async () => {
    expect(queuedBeforeTheWorker).toHaveLength(PROBE_JOBS);
    expect(queuedBeforeTheWorker.map((job) => job.state)).toEqual(
      Array(PROBE_JOBS).fill('created'),
    );

    const deadline = Date.now() + 60_000;
    let jobs = await probeJobs(db.url);
    while (jobs.some((job) => job.state !== 'completed') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      jobs = await probeJobs(db.url);
    }
    const workerPid = startUpLine(worker.output())?.pid;
    expect(workerPid).toBeDefined();
    expect(jobs).toEqual(
      Array(PROBE_JOBS).fill({ state: 'completed', output: { role: 'worker', pid: workerPid } }),
    );
  });

  it('both stop on SIGTERM and exit 0', async () => {
    api.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    expect(await api.exit).toEqual({ code: 0, signal: null });
    expect(await worker.exit).toEqual({ code: 0, signal: null });
  });
});
