import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../support/eventually';
import {
  freePort,
  type RunningService,
  startReadyService,
  loginOverHttp,
} from '../support/process';
import { createTestDatabase, type TestDatabase, queryRows } from '../support/test-database';

/**
 * README (Idempotent retries, "After a crash"): a process that dies before its work committed
 * leaves its key in flight for IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS, then a retry of the same request
 * takes the key over and does the work. A bulk import commits an empty placeholder import (state
 * `receiving`) before it reads its first row; that commit is not the import's work, which is its
 * last transaction: a CSV import cut mid-body by a crash leaves its key to be taken over, and the
 * half-received import, nothing of it queued, for the sweep of imports left receiving.
 */
jest.setTimeout(180_000);

const onServer = process.env.TEST_DATABASE_URL ? describe : describe.skip;
const ADMIN = { email: 'admin@import-crash.example', password: 'import crash with a key password' };

onServer('Idempotency-Key of a CSV import cut by a crash mid-body', () => {
  let db: TestDatabase;
  let cwd: string;
  let env: Record<string, string>;
  let baseUrl: string;
  let port: number;
  const services: RunningService[] = [];

  const sql = <T>(text: string, params: unknown[] = []): Promise<T[]> =>
    queryRows<T>(db.url, text, params);

  async function start(): Promise<RunningService> {
    const service = await startReadyService(env, cwd, baseUrl);
    services.push(service);
    return service;
  }

  const bearer = (): Promise<string> => loginOverHttp(baseUrl, ADMIN);

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    cwd = mkdtempSync(join(tmpdir(), 'pis-import-crash-'));
    port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    env = {
      ...db.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      JWT_SECRET: 'import-crash-with-a-key-test-secret-32-chars',
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      ORPHAN_SWEEP_CRON: 'off',
    };
  });

  afterAll(async () => {
    for (const { child, exit } of services) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exit;
    }
    rmSync(cwd, { recursive: true, force: true });
    await db?.drop();
  });

  it('lets a retry take the key over once the in-flight time has passed', async () => {
    const first = await start();
    let token = await bearer();
    const created = await fetch(`${baseUrl}/api/v1/products`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Imported in bulk' }),
    });
    const productId = ((await created.json()) as { id: string }).id;
    const rows = Array.from({ length: 20 }, (_, i) => `${productId},https://example.com/${i}.jpg`);
    const key = `import-crash-${Date.now()}`;

    // The CSV arrives slowly: half of it, then the process dies.
    const slow = httpRequest({
      host: '127.0.0.1',
      port,
      path: '/api/v1/imports',
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'text/csv',
        'idempotency-key': key,
        'transfer-encoding': 'chunked',
      },
    });
    slow.on('error', () => undefined);
    slow.write(`product_id,url\n${rows.slice(0, 10).join('\n')}\n`);
    await eventually(
      async () => (await sql(`SELECT 1 FROM imports WHERE state = 'receiving'`)).length === 1,
      'the import to be receiving',
    );
    first.child.kill('SIGKILL');
    await first.exit;
    slow.destroy();
    // Nothing was queued: the placeholder import has no total yet; the key's work never committed.
    const [cut] = await sql<{ id: string }>(`SELECT id, state, total_rows FROM imports`);
    expect(cut).toMatchObject({ state: 'receiving', total_rows: 0 });
    expect(
      await sql(`SELECT work_committed_at FROM idempotency_keys WHERE key = $1`, [key]),
    ).toEqual([{ work_committed_at: null }]);

    await start();
    token = await bearer();
    // IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS (30 minutes) later.
    await sql(`UPDATE idempotency_keys SET created_at = created_at - interval '31 minutes'`);
    const retried = await fetch(`${baseUrl}/api/v1/imports`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'text/csv',
        'idempotency-key': key,
      },
      body: `product_id,url\n${rows.join('\n')}\n`,
    });
    expect(retried.status).toBe(202);
    // A new import; the cut one is left receiving, for the sweep of abandoned imports.
    expect(await sql(`SELECT id, state FROM imports ORDER BY created_at`)).toEqual([
      { id: cut.id, state: 'receiving' },
      { id: expect.any(String) as string, state: 'processing' },
    ]);
  });
});
