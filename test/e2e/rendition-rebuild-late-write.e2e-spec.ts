import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { eventually } from '../support/eventually';
import { FaultyStorage } from '../support/faulty-storage';
import { lateWriteDeletions, pendingFileDeletions } from '../support/file-deletions';
import { catalogueOfOneImage } from '../support/rebuilds';
import { testAppEnv } from '../support/test-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

jest.setTimeout(90_000);

/**
 * A rendition rebuild whose new rendition's write is given up at STORAGE_TIMEOUT_MS, and which
 * the storage applies after (FaultyStorage's `late`): its files are deleted at once, and queued
 * for deletion again later, as an upload's are, so the late file does not wait a day for the
 * orphan sweep.
 */
describe('A rendition rebuild whose write the storage completes after its deadline', () => {
  let db: TestDatabase;
  let app: NestFastifyApplication | undefined;

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('has the late file deleted again later, as an upload does (README, STORAGE_TIMEOUT_MS)', async () => {
    db = await createTestDatabase();
    const env = (presets: string) =>
      testAppEnv(db, {
        IMAGE_RENDITIONS: presets,
        JOB_POLL_INTERVAL_MS: '500',
        STORAGE_TIMEOUT_MS: '1000',
      });
    await catalogueOfOneImage(env('thumb:150x150:cover,card:300x300:attention'));

    // The new thumb's write is given up at 1 s; the storage applies it at 3 s all the same.
    const faulty = new FaultyStorage();
    faulty.failNext('put', { match: /\/thumb-[0-9a-f]{8}\.webp$/, mode: 'late', lateMs: 3000 });
    app = await createApp({
      env: env('thumb:100x100:cover,card:300x300:attention'),
      wrapStorage: faulty.wrap,
    });
    await eventually(() => faulty.lateWrites.length > 0, 'the faulty write');
    await Promise.all(faulty.lateWrites);
    const [late] = faulty.failed;
    const ds = app.get(DataSource);
    await eventually(async () => (await pendingFileDeletions(ds)).length === 0, 'deletions');
    // Named by no row (whether the first deletion came before the write landed or after it) ...
    const rows = await ds.query<{ renditions: Record<string, { key: string }> }[]>(
      'SELECT renditions FROM images',
    );
    expect(rows.flatMap((r) => Object.values(r.renditions).map((x) => x.key))).not.toContain(late);
    // ... and, as after an upload's timed-out write, its deletion is queued again for later.
    await eventually(
      async () => (await lateWriteDeletions(ds)).includes(late),
      'its deletion queued again, for later',
    );
  });
});
