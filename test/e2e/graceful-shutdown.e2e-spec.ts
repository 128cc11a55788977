import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../support/eventually';
import {
  freePort,
  type RunningService,
  SERVICE_TEST_TIMEOUT_MS,
  startService,
  waitForStatus,
} from '../support/process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { probeJobs, ROLE_PROBE_PRELOAD, stillRunning } from '../support/role-probe';

// This test starts the service and waits for it to be ready.
jest.setTimeout(SERVICE_TEST_TIMEOUT_MS);

const SHUTDOWN_TIMEOUT_MS = 6000;

/** Whether a new TCP connection to the port is taken (true) or refused (false). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const onServer = process.env.TEST_DATABASE_URL ? describe : describe.skip;

/**
 * SIGTERM to the built service while a job is running (its job-queue rows need a server, read
 * from this process): new connections are refused at once, not served while the job drains and
 * then cut by the forced exit; the job still running when the time is nearly out is handed back to
 * its queue (to be retried at once by another worker, not once its heartbeat lapses); and the
 * process exits 0 within SHUTDOWN_TIMEOUT_MS, not by its forced exit.
 */
onServer('Graceful shutdown with a job running', () => {
  let db: TestDatabase;
  let cwd: string;
  let service: RunningService | undefined;

  const probeStates = async () => (await probeJobs(db.url)).map((job) => job.state);

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    cwd = mkdtempSync(join(tmpdir(), 'pis-shutdown-'));
  });

  afterAll(async () => {
    if (service && stillRunning(service.child)) {
      service.child.kill('SIGKILL');
    }
    await db?.drop();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('refuses new connections at once, hands the running job back, and exits 0 in time', async () => {
    const port = await freePort();
    const running = startService(
      {
        ...db.env,
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'info',
        JOB_POLL_INTERVAL_MS: '500',
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
        NODE_OPTIONS: `--require ${ROLE_PROBE_PRELOAD}`,
        ROLE_PROBE_JOBS: '1',
        // Its one job runs until the process stops.
        ROLE_PROBE_HOLD_MS: '600000',
      },
      cwd,
    );
    service = running;
    await waitForStatus(`http://127.0.0.1:${port}/health/ready`, 200, 90_000);
    await eventually(
      async () => (await probeStates()).join() === 'active',
      'the probe job to be running',
      30_000,
    );

    const signalledAt = Date.now();
    running.child.kill('SIGTERM');
    // Well before SHUTDOWN_TIMEOUT_MS, when the process would exit anyway (2 s was too short for
    // a loaded CI run to be sure of).
    await eventually(async () => !(await accepts(port)), 'new connections to be refused', 4000);
    // Refused while the process still drains its job, not only once it has gone.
    expect(running.child.exitCode).toBeNull();

    expect(await running.exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 2000);
    expect(running.output()).not.toContain('Shutdown did not finish');
    // Failed back to its queue for a retry, not left active until its heartbeat lapses.
    expect(await probeStates()).toEqual(['retry']);
  });
});
