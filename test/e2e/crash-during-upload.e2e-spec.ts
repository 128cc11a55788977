import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import { createApp } from '../../src/app.factory';
import { OrphanFileSweeper } from '../../src/images/orphan-file-sweeper';
import { filesBelow } from '../support/accounts';
import { blockedBackend, holdLock } from '../support/db-faults';
import { eventually } from '../support/eventually';
import { solidJpeg } from '../support/fixtures';
import { multipart } from '../support/multipart';
import { freePort, startService, waitForStatus, type RunningService } from '../support/process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

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

  async function sql<T>(text: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      return (await client.query(text, params)).rows as T[];
    } finally {
      await client.end();
    }
  }

  async function start(): Promise<RunningService> {
    const service = startService(env, cwd);
    services.push(service);
    await waitForStatus(`${baseUrl}/health/ready`, 200, 120_000);
    return service;
  }

  async function bearer(): Promise<string> {
    const res = await fetch(`${baseUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ADMIN),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  async function upload(token: string, productId: string, title: string): Promise<Response> {
    const body = multipart({ title }, [
      { filename: `${title}.jpg`, contentType: 'image/jpeg', data: await solidJpeg(320, 240) },
    ]);
    return fetch(`${baseUrl}/api/v1/products/${productId}/images`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, ...body.headers },
      body: body.payload,
    });
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
    const product = await fetch(`${baseUrl}/api/v1/products`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Crash' }),
    });
    expect(product.status).toBe(201);
    const productId = ((await product.json()) as { id: string }).id;

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
});
