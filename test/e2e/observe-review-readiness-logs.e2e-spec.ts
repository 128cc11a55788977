import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVICE_TEST_TIMEOUT_MS, startService, waitForStatus } from '../support/process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

// These tests start the service and wait for it to be ready.
jest.setTimeout(SERVICE_TEST_TIMEOUT_MS);

interface LogLine {
  level: number;
  msg: string;
  held_back?: number;
  err?: { type?: string; name?: string };
  req?: { url?: string };
  res?: { statusCode?: number };
}

/**
 * GET /health/ready is public: while a dependency is down, anyone can ask it as often as they
 * like. What it writes to the log must not grow with the number of probes: the reason once (and
 * again a minute later, with how many were held back), and a line when the check passes again.
 */
describe('Readiness failures in the log', () => {
  let db: TestDatabase;
  let cwd: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    cwd = mkdtempSync(join(tmpdir(), 'pis-observe-ready-'));
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('logs a failing check once however many probes ask, and its recovery', async () => {
    // This review's own block of ports (41500-41599).
    const port = 41510;
    const media = join(cwd, 'media');
    const service = startService(
      {
        ...db.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        LOG_FORMAT: 'json',
        STORAGE_LOCAL_DIR: media,
      },
      cwd,
    );
    const ready = `http://127.0.0.1:${port}/health/ready`;
    try {
      await waitForStatus(ready, 200);
      // The storage's folder replaced by a file: the local storage's check fails.
      rmSync(media, { recursive: true, force: true });
      writeFileSync(media, 'not a folder');
      // 30 probes at once (sharing checks), then 30 one after another.
      const together = await Promise.all(Array.from({ length: 30 }, () => fetch(ready)));
      const statuses = together.map((res) => res.status);
      for (let i = 0; i < 30; i++) {
        const res = await fetch(ready);
        statuses.push(res.status);
        await res.arrayBuffer();
      }
      await Promise.all(together.map((res) => res.arrayBuffer()));
      expect(new Set(statuses)).toEqual(new Set([503]));
      rmSync(media, { force: true });
      mkdirSync(media);
      await waitForStatus(ready, 200);
    } finally {
      service.child.kill('SIGTERM');
      await service.exit;
    }
    const lines = service
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
    const failed = lines.filter((l) => l.msg === 'Storage readiness check failed');
    expect(failed).toEqual([expect.objectContaining({ level: 40 })]);
    // Typed by what failed, not by the plain object safeError answers with.
    expect(failed[0].err?.type).toBe(failed[0].err?.name);
    expect(failed[0].err?.type).not.toBe('Object');
    // Nor a request line per failed probe: the reason's line says it.
    expect(lines.filter((l) => l.req?.url === '/health/ready' && l.res)).toEqual([]);
    // Its recovery, saying how many failures it did not write.
    const recovered = lines.filter((l) => l.msg === 'Storage readiness check passes again');
    expect(recovered).toEqual([expect.objectContaining({ level: 30 })]);
    expect(recovered[0].held_back).toBeGreaterThanOrEqual(1);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  });
});
