import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { ensureBuilt, freePort, startService, waitForStatus } from '../support/process';

/** The compiled service as an operator runs it: `node dist/src/main.js`. */
describe('The service process', () => {
  let cwd: string;

  beforeAll(() => {
    ensureBuilt();
    cwd = mkdtempSync(join(tmpdir(), 'pis-proc-'));
  }, 120_000);
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it('refuses to start on bad configuration, naming each bad variable', async () => {
    const service = startService(
      { PORT: 'eighty', NODE_ENV: 'staging', DATABASE_URL: 'mysql://u:secretpw@h/db' },
      cwd,
    );
    const { code } = await service.exit;
    expect(code).toBe(1);
    const out = service.output();
    expect(out).toContain('Invalid configuration');
    expect(out).toMatch(/PORT: must be an integer/);
    expect(out).toMatch(/NODE_ENV: must be one of/);
    expect(out).toMatch(/DATABASE_URL: must be a PostgreSQL connection URL/);
    expect(out).not.toContain('secretpw');
    expect(out).not.toMatch(/\bat .*\.js:\d+/); // one clear message, no stack trace
  });

  describe('with a valid configuration', () => {
    let db: TestDatabase;
    beforeAll(async () => (db = await createTestDatabase()));
    afterAll(() => db.drop());

    it('starts, reports ready, prints the docs URL, and exits 0 on SIGTERM', async () => {
      const port = await freePort();
      const service = startService(
        { ...db.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' },
        cwd,
      );
      try {
        await waitForStatus(`http://127.0.0.1:${port}/health/ready`, 200);
        const docs = await fetch(`http://127.0.0.1:${port}/docs-json`);
        expect(docs.status).toBe(200);
        expect(((await docs.json()) as { openapi: string }).openapi).toMatch(/^3\./);
        expect(service.output()).toContain(`http://127.0.0.1:${port}/docs`);
      } finally {
        service.child.kill('SIGTERM');
      }
      const exit = await service.exit;
      expect(exit).toEqual({ code: 0, signal: null });
      expect(service.output()).toContain('shutting down gracefully');
    });
  });
});
