import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { filesBelow } from '../support/accounts';
import { holdLock } from '../support/db-faults';
import { eventually } from '../support/eventually';
import { pendingFileDeletions } from '../support/file-deletions';
import { catalogueOfOneImage } from '../support/rebuilds';
import { testAppEnv } from '../support/test-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

jest.setTimeout(60_000);

/**
 * A rendition rebuild whose swap transaction fails (the database refuses it: a statement timeout,
 * a serialization failure…) after the new renditions were written: those files are named by no
 * row, and must be queued for deletion as when making them fails half-way (RenditionSwap.discard).
 * The lock the test holds needs the database server.
 */
const onServer = process.env.TEST_DATABASE_URL ? describe : describe.skip;

onServer('A rendition rebuild whose swap fails after its files were written', () => {
  let db: TestDatabase;
  let app: NestFastifyApplication | undefined;

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('leaves no file that no row names', async () => {
    db = await createTestDatabase();
    const env = (presets: string) =>
      testAppEnv(db, {
        IMAGE_RENDITIONS: presets,
        JOB_POLL_INTERVAL_MS: '500',
        DATABASE_STATEMENT_TIMEOUT_MS: '1500',
      });
    await catalogueOfOneImage(env('thumb:150x150:cover,card:300x300:attention'));

    // Reads of the images go on; the swap's UPDATE waits on the lock past the statement timeout.
    const lock = await holdLock(db.url!, 'LOCK TABLE images IN EXCLUSIVE MODE');
    const media = join(db.env.DATA_DIR, 'media');
    try {
      app = await createApp({ env: env('thumb:100x100:cover,card:300x300:attention') });
      await eventually(
        () => filesBelow(media).some((path) => /thumb-[0-9a-f]{8}\.webp$/.test(path)),
        'the new renditions to be written',
      );
      const during = app.get(DataSource);
      await eventually(
        async () =>
          (
            await during.query<unknown[]>(
              `SELECT 1 FROM pgboss.job WHERE name = 'renditions-rebuild' AND state = 'retry'`,
            )
          ).length > 0,
        'the swap to fail (its job to be retried)',
      );
    } finally {
      await lock.release();
    }
    const ds = app.get(DataSource);
    await eventually(async () => (await pendingFileDeletions(ds)).length === 0, 'deletions');

    const rows = await ds.query<
      { storage_key: string; renditions: Record<string, { key: string }> }[]
    >('SELECT storage_key, renditions FROM images');
    const named = new Set(
      rows.flatMap((r) => [r.storage_key, ...Object.values(r.renditions).map((x) => x.key)]),
    );
    const stored = filesBelow(media)
      .map((path) => path.slice(media.length + 1))
      .filter((key) => !key.startsWith('.tmp'));
    expect(stored.filter((key) => !named.has(key))).toEqual([]);
  });
});
