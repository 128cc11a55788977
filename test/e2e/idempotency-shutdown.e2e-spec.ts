import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockedBackend, holdLock } from '../support/db-faults';
import { solidJpeg } from '../support/fixtures';
import { multipart } from '../support/multipart';
import {
  freePort,
  type RunningService,
  startReadyService,
  loginOverHttp,
} from '../support/process';
import { createTestDatabase, type TestDatabase, queryRows } from '../support/test-database';

/**
 * A graceful shutdown (SIGTERM) that runs past SHUTDOWN_TIMEOUT_MS cuts the requests still in
 * flight. Their work never committed, and the process lets go of the Idempotency-Keys they hold
 * before it exits: a client's retry after the restart (a rolling deploy) does the work at once,
 * not after IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS (30 minutes) of 409 idempotency_key_in_use.
 */
jest.setTimeout(180_000);

const onServer = process.env.TEST_DATABASE_URL ? describe : describe.skip;
const ADMIN = { email: 'admin@shutdown.example', password: 'shutdown with a key admin password' };

onServer('Idempotency-Key of a request cut by a graceful shutdown', () => {
  let db: TestDatabase;
  let cwd: string;
  let env: Record<string, string>;
  let baseUrl: string;
  const services: RunningService[] = [];

  const sql = <T>(text: string, params: unknown[] = []): Promise<T[]> =>
    queryRows<T>(db.url, text, params);

  async function start(): Promise<RunningService> {
    const service = await startReadyService(env, cwd, baseUrl);
    services.push(service);
    return service;
  }

  const bearer = (): Promise<string> => loginOverHttp(baseUrl, ADMIN);

  async function upload(token: string, productId: string, key: string): Promise<Response> {
    const body = multipart({ title: 'keyed' }, [
      { filename: 'keyed.jpg', contentType: 'image/jpeg', data: await solidJpeg(320, 240) },
    ]);
    return fetch(`${baseUrl}/api/v1/products/${productId}/images`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'idempotency-key': key, ...body.headers },
      body: body.payload,
    });
  }

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    cwd = mkdtempSync(join(tmpdir(), 'pis-shutdown-key-'));
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    env = {
      ...db.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      JWT_SECRET: 'shutdown-with-a-key-test-secret-of-32-characters',
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      ORPHAN_SWEEP_CRON: 'off',
      SHUTDOWN_TIMEOUT_MS: '1000',
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

  it('releases the key, so that the retry after the restart does the work', async () => {
    const first = await start();
    let token = await bearer();
    const created = await fetch(`${baseUrl}/api/v1/products`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Cut by a deploy' }),
    });
    const productId = ((await created.json()) as { id: string }).id;
    const key = `deploy-${Date.now()}`;

    // The upload is held at its INSERT (its key claimed, its work not committed) while the
    // process is asked to stop; the shutdown times out and the process exits 1.
    const lock = await holdLock(db.url!, 'LOCK TABLE images IN SHARE MODE');
    try {
      void upload(token, productId, key).catch(() => undefined);
      await blockedBackend(db.url!, /^INSERT INTO "images"/);
      first.child.kill('SIGTERM');
      expect(await first.exit).toEqual({ code: 1, signal: null });
    } finally {
      await lock.release();
    }
    expect(first.output()).toContain('Shutdown did not finish');
    expect(first.output()).toContain('"idempotency_keys_released":1');
    // Nothing was made, and the key is free.
    expect(await sql('SELECT id FROM images')).toEqual([]);
    expect(await sql('SELECT key FROM idempotency_keys')).toEqual([]);

    await start();
    token = await bearer();
    const retried = await upload(token, productId, key);
    expect(retried.status).toBe(201);
    expect(await sql('SELECT title FROM images')).toEqual([{ title: 'keyed' }]);
  });
});
