import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { THREADS_BESIDE_IMAGES } from '../../src/common/runtime/thread-pool';
import { eventually } from '../support/eventually';
import { freePort, SERVICE_TEST_TIMEOUT_MS, startService, waitForStatus } from '../support/process';
import { createTestDatabase } from '../support/test-database';

// These tests start the service and wait for it to be ready.
jest.setTimeout(SERVICE_TEST_TIMEOUT_MS);

/** The libuv threads of a running process. */
function libuvThreads(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).filter(
    (task) => readFileSync(`/proc/${pid}/task/${task}/comm`, 'utf8').trim() === 'libuv-worker',
  );
}

/**
 * README, Configuration: settings are "read from the environment and from a `.env` file in the
 * working directory". The thread pool is sized from process.env alone, before `.env` is read.
 */
describe("libuv's thread pool, configured in .env", () => {
  it.each([
    ['IMAGE_PROCESSING_CONCURRENCY=6', 6 + THREADS_BESIDE_IMAGES],
    ['UV_THREADPOOL_SIZE=12', 12],
  ])('%s in .env sizes the pool as it would from the environment', async (line, expected) => {
    const cwd = mkdtempSync(join(tmpdir(), 'pis-envfile-'));
    const own = await createTestDatabase();
    const port = await freePort();
    writeFileSync(join(cwd, '.env'), `${line}\n`);
    const service = startService(
      {
        ...own.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        ADMIN_EMAIL: 'pool-admin@test.example',
        ADMIN_PASSWORD: 'pool-admin-password-for-tests',
      },
      cwd,
    );
    try {
      await waitForStatus(`http://127.0.0.1:${port}/health/ready`, 200);
      // The administrator's password hashed (argon2, on the pool): the pool has started.
      await eventually(
        () => service.output().includes('Created the first administrator'),
        'the first administrator',
      );
      expect(libuvThreads(service.child.pid!)).toHaveLength(expected);
    } finally {
      service.child.kill('SIGKILL');
      await service.exit;
      await own.drop();
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
