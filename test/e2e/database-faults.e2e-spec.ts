import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { utimesSync } from 'node:fs';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { OrphanFileSweeper } from '../../src/images/orphan-file-sweeper';
import { filesBelow } from '../support/accounts';
import {
  blockedBackend,
  holdLock,
  killMidTransaction,
  type HeldLock,
  terminateBackend,
} from '../support/db-faults';
import { eventually } from '../support/eventually';
import { pendingFileDeletions } from '../support/file-deletions';
import { solidJpeg } from '../support/fixtures';
import { call, login } from '../support/http';
import { multipart } from '../support/multipart';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * The database connection killed mid-transaction (issue 20 §1), during a gallery change and
 * during a job. A lock the test takes in a connection of its own holds the service's transaction
 * at a chosen statement; that backend (waiting on the lock in pg_stat_activity) is terminated,
 * then the lock released. The request answers 503 database_unavailable and changes nothing; the
 * job is retried by pg-boss and completes with the right result; the service is ready again
 * without a restart. Needs a PostgreSQL server (PGlite has no backends to kill).
 */
const onServer = process.env.TEST_DATABASE_URL ? describe : describe.skip;

interface GalleryItem {
  id: string;
  title: string;
  is_primary: boolean;
}

/** A PNG on loopback, for a bulk import's row. */
async function startImageServer() {
  const png = await sharp({
    create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 40, b: 90 } },
  })
    .png()
    .toBuffer();
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'image/png' }).end(png);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

onServer('The database connection killed mid-transaction', () => {
  let t: TestApp;
  let token: string;
  let images: Awaited<ReturnType<typeof startImageServer>>;

  beforeAll(async () => {
    images = await startImageServer();
    t = await startTestApp({
      JOB_POLL_INTERVAL_MS: '500',
      IMPORT_ALLOWED_PRIVATE_ORIGINS: images.origin,
    });
    token = await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
  });

  afterAll(async () => {
    await t?.close();
    await images?.close();
  });

  const url = () => t.db.url!;
  const sql = <T>(text: string, values: unknown[] = []) =>
    t.app.get(DataSource).query<T[]>(text, values);

  async function productWithImages(name: string, titles: string[]): Promise<string> {
    const product = (
      await call(t.app, 'POST', '/api/v1/products', { bearer: token }, { name })
    ).json<{ id: string }>().id;
    for (const title of titles) {
      const body = multipart({ title }, [
        { filename: `${title}.jpg`, contentType: 'image/jpeg', data: await solidJpeg() },
      ]);
      const res = await call(
        t.app,
        'POST',
        `/api/v1/products/${product}/images`,
        { bearer: token },
        body.payload,
        { headers: body.headers },
      );
      expect(res.statusCode).toBe(201);
    }
    return product;
  }

  async function gallery(product: string) {
    const res = await call(t.app, 'GET', `/api/v1/products/${product}/images`, { bearer: token });
    expect(res.statusCode).toBe(200);
    return { items: res.json<{ items: GalleryItem[] }>().items, etag: res.headers.etag };
  }

  /**
   * Every stored file has its image row, and every row its files. With `orphaned`, that many
   * files no row names were left (the connection was lost, maybe during the COMMIT: the files of
   * an attempt that may have committed are kept), and the orphan sweep deletes them once past its
   * grace period.
   */
  async function expectFilesMatchRows(orphaned = 0): Promise<void> {
    await eventually(
      async () => (await pendingFileDeletions(t.app.get(DataSource))).length === 0,
      'the queued file deletions to run',
    );
    const rows = await sql<{ storage_key: string; keys: string[] }>(
      `SELECT storage_key, ARRAY(SELECT r->>'key' FROM jsonb_each(renditions) AS e(k, r)) AS keys
         FROM images`,
    );
    const keys = new Set(rows.flatMap((r) => [r.storage_key, ...r.keys]));
    const media = join(t.db.env.DATA_DIR, 'media');
    const stored = () => filesBelow(media).map((file) => relative(media, file));
    const orphans = stored().filter((key) => !keys.has(key));
    expect(orphans).toHaveLength(orphaned);
    if (orphaned > 0) {
      const then = new Date(Date.now() - 25 * 3600 * 1000);
      for (const key of orphans) utimesSync(join(media, key), then, then);
      expect(await t.app.get(OrphanFileSweeper).sweep()).toMatchObject({ deleted: orphaned });
    }
    expect(stored().sort()).toEqual([...keys].sort());
  }

  async function expectReady(): Promise<void> {
    expect((await call(t.app, 'GET', '/health/ready')).statusCode).toBe(200);
  }

  /** The row lock that holds a change of the image titled `title` (and nothing else). */
  const lockImage = (title: string) =>
    `SELECT 1 FROM images WHERE title = '${title}' FOR NO KEY UPDATE`;

  it('a reorder killed mid-way answers 503 database_unavailable and leaves the gallery as it was', async () => {
    const product = await productWithImages('Reorder', ['one', 'two', 'three']);
    const before = await gallery(product);
    // A new order; the primary stays first, as a reorder keeps it.
    const [one, two, three] = before.items.map((i) => i.id);
    const reordered = [one, three, two];

    // The UPDATE of the priorities waits on the row lock, the product's lock already taken.
    const { outcome: res } = await killMidTransaction(
      url(),
      lockImage('two'),
      /UPDATE images AS i SET priority/,
      () =>
        call(
          t.app,
          'PUT',
          `/api/v1/products/${product}/images/order`,
          { bearer: token },
          { image_ids: reordered },
          { headers: { 'if-match': before.etag as string } },
        ),
    );
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 503, code: 'database_unavailable' });
    expect(res.headers['retry-after']).toMatch(/^\d+$/);

    // Nothing of it happened: the same order, the same primary, the same version.
    const after = await gallery(product);
    expect(after).toEqual(before);
    await expectReady();

    // Retried with the same ETag, it works: the service recovered without a restart.
    const retry = await call(
      t.app,
      'PUT',
      `/api/v1/products/${product}/images/order`,
      { bearer: token },
      { image_ids: reordered },
      { headers: { 'if-match': before.etag as string } },
    );
    expect(retry.statusCode).toBe(200);
    expect((await gallery(product)).items.map((i) => i.id)).toEqual(reordered);
    await expectFilesMatchRows();
  });

  it('a primary change killed after demoting the old primary leaves exactly the old primary', async () => {
    const product = await productWithImages('Primary', ['first', 'second']);
    const before = await gallery(product);
    expect(before.items.map((i) => [i.title, i.is_primary])).toEqual([
      ['first', true],
      ['second', false],
    ]);
    const second = before.items[1].id;

    // The old primary is demoted (its own row), then the update of 'second' waits on its lock.
    const { outcome: res, killed } = await killMidTransaction(
      url(),
      lockImage('second'),
      /^UPDATE "images"/,
      () =>
        call(
          t.app,
          'PATCH',
          `/api/v1/products/${product}/images/${second}`,
          { bearer: token },
          { is_primary: true, title: 'second, primary' },
        ),
    );
    // Killed at the update of 'second' itself, after the demotion.
    expect(killed.query).toMatch(/WHERE "id" = /);
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'database_unavailable' });

    // The demotion was rolled back with the rest: one primary, the old one, version unchanged.
    expect(await gallery(product)).toEqual(before);
    await expectReady();
    await expectFilesMatchRows();
  });

  it('a bulk import whose rows and then whose clean-up lost their connection answers 503 and leaves no import', async () => {
    const product = await productWithImages('Refused import', []);
    const importsBefore = await sql<{ id: string }>('SELECT id FROM imports');
    // The rows' INSERT waits on the lock and is killed; the import's deletion that follows (its
    // rows' cascade waits on the same lock) is killed too; then the lock goes.
    const lock = await holdLock(url(), 'LOCK TABLE import_rows IN SHARE MODE');
    const answered = call(
      t.app,
      'POST',
      '/api/v1/imports',
      { bearer: token },
      { rows: [{ product_id: product, url: `${images.origin}/a.png` }] },
    );
    try {
      for (const statement of [/^INSERT INTO import_rows/, /^DELETE FROM "imports"/]) {
        const blocked = await blockedBackend(url(), statement);
        expect(await terminateBackend(blocked.pid)).toBe(true);
      }
    } finally {
      await lock.release();
    }
    const res = await answered;
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'database_unavailable' });
    // The deletion, tried again on a live connection before the answer: nothing left receiving.
    expect(await sql('SELECT id FROM imports')).toEqual(importsBefore);
    await expectReady();
  });

  it('a bulk import whose connection is lost once it has committed answers 202 with it, not 503', async () => {
    const product = await productWithImages('Committed import', []);
    // The rows' INSERT held, so that the import's row exists and can be locked before the
    // transaction that marks it received; a table lock queued behind that transaction then holds
    // the statement after its commit (finishIfDone), which is killed. A table lock, not a second
    // row lock: PostgreSQL hands a queued table lock over at the commit itself, whereas a row
    // lock's waiter must wake and look again, and a busy machine let finishIfDone pass it.
    const rowsHeld = await holdLock(url(), 'LOCK TABLE import_rows IN ACCESS EXCLUSIVE MODE');
    const answered = call(
      t.app,
      'POST',
      '/api/v1/imports',
      { bearer: token },
      // Its one row refused on arrival (no url): no job is queued, and the import is done.
      { rows: [{ product_id: product }] },
    );
    let first: HeldLock | undefined;
    let second: Promise<HeldLock> | undefined;
    try {
      await blockedBackend(url(), /^INSERT INTO import_rows/);
      const [{ id }] = await sql<{ id: string }>(
        "SELECT id FROM imports WHERE state = 'receiving'",
      );
      const lockRow = `SELECT 1 FROM imports WHERE id = '${id}' FOR NO KEY UPDATE`;
      first = await holdLock(url(), lockRow);
      await rowsHeld.release();
      await blockedBackend(url(), /^UPDATE "imports"/);
      second = holdLock(url(), 'LOCK TABLE imports IN SHARE MODE');
      await blockedBackend(url(), /^LOCK TABLE imports/);
      await first.release();
      const held = await second;
      const finishing = await blockedBackend(url(), /^WITH finished AS/);
      expect(await terminateBackend(finishing.pid)).toBe(true);
      await held.release();
    } finally {
      await rowsHeld.release();
      await first?.release();
      await (await second?.catch(() => undefined))?.release();
    }
    const res = await answered;
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({
      state: 'completed',
      counts: { total: 1, failed: 1, pending: 0 },
    });
    await expectReady();
  });

  it('a bulk import job killed while inserting its image is retried by pg-boss and completes with one image', async () => {
    const product = await productWithImages('Imported', []);

    // The job's INSERT of the image row waits on the table lock, its files already stored.
    const { outcome: posted } = await killMidTransaction(
      url(),
      'LOCK TABLE images IN SHARE MODE',
      /^INSERT INTO "images"/,
      () =>
        call(
          t.app,
          'POST',
          '/api/v1/imports',
          { bearer: token },
          { rows: [{ product_id: product, url: `${images.origin}/a.png`, title: 'imported' }] },
        ),
    );
    expect(posted.statusCode).toBe(202);
    const importId = posted.json<{ id: string }>().id;

    // The import's one job (no other in this file): its attempt failed, pg-boss scheduled a retry. Its back-off (30 s) is brought forward:
    // the retry itself is still pg-boss's.
    const job = () =>
      sql<{ id: string; state: string; retry_count: number; output: unknown }>(
        `SELECT id, state, retry_count, output FROM pgboss.job
          WHERE name = 'bulk-import-rows'`,
      );
    await eventually(async () => (await job())[0]?.state === 'retry', 'the job to await a retry');
    await sql(
      `UPDATE pgboss.job SET start_after = now() WHERE name = 'bulk-import-rows' AND state = 'retry'`,
    );
    await eventually(
      async () => (await job())[0]?.state === 'completed',
      'the retried job to complete',
      60_000,
    );
    const [done] = await job();
    expect(done.retry_count).toBe(1);
    expect(done.output).toMatchObject({ ok: 1, failed: 0 });

    const imported = (
      await call(t.app, 'GET', `/api/v1/imports/${importId}`, { bearer: token })
    ).json<{ state: string; counts: Record<string, number> }>();
    expect(imported).toMatchObject({
      state: 'completed',
      counts: { total: 1, done: 1, ok: 1, failed: 0, pending: 0 },
    });
    const rows = (
      await call(t.app, 'GET', `/api/v1/imports/${importId}/rows`, { bearer: token })
    ).json<{ items: { status: string; image_id: string | null }[] }>().items;
    expect(rows).toHaveLength(1);
    expect(rows[0].status).toBe('ok');

    // Exactly one image, the row's, primary; the killed attempt's files (an original and three
    // renditions) left to the orphan sweep, which deletes them; no spool left.
    const { items } = await gallery(product);
    expect(items.map((i) => [i.id, i.title, i.is_primary])).toEqual([
      [rows[0].image_id, 'imported', true],
    ]);
    await expectFilesMatchRows(4);
    expect(filesBelow(join(t.db.env.DATA_DIR, 'tmp'))).toEqual([]);
    await expectReady();
  });
});

onServer('A statement past DATABASE_STATEMENT_TIMEOUT_MS', () => {
  let t: TestApp;
  let token: string;

  beforeAll(async () => {
    t = await startTestApp({ DATABASE_STATEMENT_TIMEOUT_MS: '500' });
    token = await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
  });

  afterAll(async () => {
    await t?.close();
  });

  it('answers 503 database_unavailable while a lock is held, and 201 once it goes, without a restart', async () => {
    const holder = new Client({ connectionString: t.db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE products IN ACCESS EXCLUSIVE MODE');
      const res = await call(t.app, 'POST', '/api/v1/products', { bearer: token }, { name: 'x' });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.json()).toMatchObject({
        code: 'database_unavailable',
        detail: 'The database did not complete the request in time; retry shortly.',
      });
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
    }
    const products = await t.app.get(DataSource).query('SELECT name FROM products');
    expect(products).toEqual([]);
    const res = await call(t.app, 'POST', '/api/v1/products', { bearer: token }, { name: 'y' });
    expect(res.statusCode).toBe(201);
  });
});
