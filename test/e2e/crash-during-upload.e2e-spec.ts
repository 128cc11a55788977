import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory';
import { OrphanFileSweeper } from '../../src/images/orphan-file-sweeper';
import { filesBelow } from '../support/accounts';
import { blockedBackend, holdLock } from '../support/db-faults';
import { eventually } from '../support/eventually';
import { solidJpeg } from '../support/fixtures';
import { multipart } from '../support/multipart';
import {
  freePort,
  waitForStatus,
  type RunningService,
  startReadyService,
  loginOverHttp,
} from '../support/process';
import { createTestDatabase, type TestDatabase, queryRows } from '../support/test-database';

/**
 * The process SIGKILLed between the storage write and the commit (issue 20 §1). The built service
 * runs as a child process; a table lock the test holds stops an upload at its INSERT of the image
 * row, its files already stored, and the process is killed there. No row is left; the files no
 * row names are deleted by the orphan sweep once older than its grace period (aged with utimes on
 * local disk, the production minimum untouched), the spooled upload by the start-up sweep of the
 * spool (also aged past its hour); the restarted service is ready and takes uploads.
 */
jest.setTimeout(180_000);

const onServer = process.env.TEST_DATABASE_URL ? describe : describe.skip;

const ADMIN = { email: 'admin@crash.example', password: 'crash during upload admin password' };
const HOUR_MS = 3600 * 1000;
const IN_FLIGHT_SECONDS = 3;

/** Makes files look `hours` old, as if that long had passed since the crash. */
function age(files: string[], hours: number): void {
  const then = new Date(Date.now() - hours * HOUR_MS);
  for (const file of files) utimesSync(file, then, then);
}

onServer('The process killed between the storage write and the commit', () => {
  let db: TestDatabase;
  let cwd: string;
  let env: Record<string, string>;
  let baseUrl: string;
  const services: RunningService[] = [];
  let inProcess: NestFastifyApplication | undefined;

  const media = () => join(db.env.DATA_DIR, 'media');
  const spool = () => join(db.env.DATA_DIR, 'tmp', 'uploads');

  const sql = <T>(text: string, params: unknown[] = []): Promise<T[]> =>
    queryRows<T>(db.url, text, params);

  async function start(): Promise<RunningService> {
    const service = await startReadyService(env, cwd, baseUrl);
    services.push(service);
    return service;
  }

  const bearer = (): Promise<string> => loginOverHttp(baseUrl, ADMIN);

  async function upload(
    token: string,
    productId: string,
    title: string,
    idempotencyKey?: string,
  ): Promise<Response> {
    const body = multipart({ title }, [
      { filename: `${title}.jpg`, contentType: 'image/jpeg', data: await solidJpeg(320, 240) },
    ]);
    const key: Record<string, string> = idempotencyKey ? { 'idempotency-key': idempotencyKey } : {};
    return fetch(`${baseUrl}/api/v1/products/${productId}/images`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, ...key, ...body.headers },
      body: body.payload,
    });
  }

  async function newProduct(token: string, name: string): Promise<string> {
    const product = await fetch(`${baseUrl}/api/v1/products`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    expect(product.status).toBe(201);
    return ((await product.json()) as { id: string }).id;
  }

  /** The keys the image rows name: the original and each rendition. */
  async function rowKeys(): Promise<string[]> {
    const rows = await sql<{ storage_key: string; keys: string[] }>(
      `SELECT storage_key, ARRAY(SELECT r->>'key' FROM jsonb_each(renditions) AS e(k, r)) AS keys
         FROM images`,
    );
    return rows.flatMap((r) => [r.storage_key, ...r.keys]).sort();
  }

  const storedKeys = () =>
    filesBelow(media())
      .map((file) => relative(media(), file))
      .sort();

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    cwd = mkdtempSync(join(tmpdir(), 'pis-crash-'));
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    env = {
      ...db.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      JWT_SECRET: 'crash-during-upload-test-secret-of-32-characters',
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      // The test runs the sweep itself, when it chooses.
      ORPHAN_SWEEP_CRON: 'off',
      // A key whose request died before its work committed is taken over this soon (30 min).
      IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS: String(IN_FLIGHT_SECONDS),
      // Which must be longer than a request may take to arrive (its uploads are small, local).
      HTTP_HEADERS_TIMEOUT_MS: '1000',
      HTTP_REQUEST_TIMEOUT_MS: String(IN_FLIGHT_SECONDS * 1000 - 1000),
    };
  });

  afterAll(async () => {
    await inProcess?.close();
    for (const { child, exit } of services) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exit;
    }
    rmSync(cwd, { recursive: true, force: true });
    await db?.drop();
  });

  it('leaves no row; its files go with the orphan sweep, its spool file at the next start', async () => {
    const first = await start();
    let token = await bearer();
    const productId = await newProduct(token, 'Crash');

    // The upload is stopped at its INSERT: checked, processed, its files stored, its row not yet.
    const lock = await holdLock(db.url!, 'LOCK TABLE images IN SHARE MODE');
    let blocked: { pid: number };
    let answer: Promise<string>;
    let written: string[];
    let spooled: string[];
    try {
      answer = upload(token, productId, 'lost').then(
        (res) => `HTTP ${res.status}`,
        () => 'no answer',
      );
      blocked = await blockedBackend(db.url!, /^INSERT INTO "images"/);
      written = storedKeys();
      spooled = filesBelow(spool());
      first.child.kill('SIGKILL');
      expect(await first.exit).toEqual({ code: null, signal: 'SIGKILL' });
    } finally {
      await lock.release();
    }
    expect(await answer).toBe('no answer');
    // The original and its renditions were written; the spooled upload is still on disk.
    expect(written.length).toBeGreaterThan(1);
    expect(written.every((key) => key.startsWith(`products/`))).toBe(true);
    expect(spooled).toHaveLength(1);

    // Its connection's transaction ends without a commit: no row, then or ever.
    await eventually(
      async () =>
        (await sql('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [blocked.pid])).length === 0,
      'the killed process’s connection to end',
    );
    expect(await sql('SELECT id FROM images')).toEqual([]);
    expect(storedKeys()).toEqual(written);

    // An hour later, the service starts again: its start-up sweep empties the spool.
    age(spooled, 1.5);
    await start();
    expect(filesBelow(spool())).toEqual([]);
    token = await bearer();
    const after = await upload(token, productId, 'after');
    expect(after.status).toBe(201);
    const kept = await rowKeys();
    expect(kept.length).toBeGreaterThan(1);

    // The orphan sweep, through the application: the files no row names are kept within its grace
    // (an upload in flight writes its files before its row commits) and deleted after it.
    inProcess = await createApp({ env: { ...env, LOG_LEVEL: 'silent' } });
    const sweeper = inProcess.get(OrphanFileSweeper);
    expect(await sweeper.sweep()).toMatchObject({ deleted: 0, failed: 0 });
    expect(storedKeys()).toEqual([...written, ...kept].sort());
    age(
      written.map((key) => join(media(), key)),
      25,
    );
    expect(await sweeper.sweep()).toMatchObject({ deleted: written.length, failed: 0 });
    expect(storedKeys()).toEqual(kept);
    expect(await rowKeys()).toEqual(kept);

    // The restarted service is still ready, after the sweep as before it.
    await waitForStatus(`${baseUrl}/health/ready`, 200);
  });
  it('lets a retry take over the Idempotency-Key of the killed upload, and makes one image', async () => {
    for (const { child, exit } of services) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exit;
    }
    const first = await start();
    let token = await bearer();
    const productId = await newProduct(token, 'Crash with a key');
    const key = `crash-${Date.now()}`;

    const lock = await holdLock(db.url!, 'LOCK TABLE images IN SHARE MODE');
    try {
      void upload(token, productId, 'keyed', key).catch(() => undefined);
      await blockedBackend(db.url!, /^INSERT INTO "images"/);
      first.child.kill('SIGKILL');
      await first.exit;
    } finally {
      await lock.release();
    }
    // The key stays in flight, its work not committed: after IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS
    // (since the claim) a retry may take it over. Before, the service cannot tell a dead holder
    // from a slow one (the case is in idempotency-keys.int-spec).
    expect(
      await sql('SELECT completed_at, work_committed_at FROM idempotency_keys WHERE key = $1', [
        key,
      ]),
    ).toEqual([{ completed_at: null, work_committed_at: null }]);
    await start();
    token = await bearer();
    await new Promise((resolve) => setTimeout(resolve, IN_FLIGHT_SECONDS * 1000));
    let retried = await upload(token, productId, 'keyed', key);
    for (let i = 0; i < 20 && retried.status === 409; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      retried = await upload(token, productId, 'keyed', key);
    }
    expect(retried.status).toBe(201);
    const made = (await retried.json()) as { id: string };
    const again = await upload(token, productId, 'keyed', key);
    expect(again.status).toBe(201);
    expect(((await again.json()) as { id: string }).id).toBe(made.id);
    const rows = await sql<{ title: string }>(
      `SELECT title FROM images WHERE product_id = (SELECT id FROM products WHERE name = $1)`,
      ['Crash with a key'],
    );
    expect(rows).toEqual([{ title: 'keyed' }]);
  });
});
