import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Test, type TestingModule } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import { loadAppConfig } from '../../src/config/app-config.module';
import { DatabaseModule } from '../../src/database/database.module';
import {
  FILE_DELETION_QUEUE,
  FILE_DELETION_RETRY,
} from '../../src/storage/storage-deletions.service';
import { ConfiguredStorageModule } from '../../src/storage/storage.module';
import { eventually } from '../support/eventually';
import { pendingFileDeletions } from '../support/file-deletions';
import { describeMigration, type MigrationTest } from '../support/migrations';

/** The migration under test, which moves the outbox of file deletions onto the job queue. */
const MIGRATION = 1796300000000;

/** Files of removed images whose deletion is still pending when the migration runs. */
const KEYS = Array.from(
  { length: 130 },
  (_, i) => `uploads/00000000-0000-4000-8000-${String(i).padStart(12, '0')}/original.jpg`,
);

/**
 * A database as the service left it before the migration: migrated up to the one before it, its
 * files stored, their deletions pending in the outbox (tried three times, the next try in an
 * hour; two keys queued twice).
 */
async function databaseBeforeTheMigration(migration: MigrationTest, media: string): Promise<void> {
  await migration.before(async (before) => {
    for (const key of KEYS) {
      mkdirSync(dirname(join(media, key)), { recursive: true });
      writeFileSync(join(media, key), 'a file a removed image left');
    }
    await before.query(
      `INSERT INTO storage_deletions (key, attempts, next_attempt_at, last_error)
       SELECT key, 3, now() + interval '1 hour', 'EACCES' FROM unnest($1::text[]) AS key`,
      [[...KEYS, KEYS[0], KEYS[129]]],
    );
  });
}

describeMigration(MIGRATION, (migration) => {
  let media: string;
  let module: TestingModule | undefined;

  beforeAll(() => {
    media = join(migration.db.env.DATA_DIR, 'media');
  });
  afterAll(async () => {
    await module?.close();
  });

  it('carries pending outbox deletions over as jobs, which delete the files once the service runs', async () => {
    await databaseBeforeTheMigration(migration, media);

    // The service starts: the remaining migrations run, and its worker takes the jobs.
    const config = await loadAppConfig({
      env: {
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        JOB_POLL_INTERVAL_MS: '500',
        ...migration.db.env,
      },
    });
    module = await Test.createTestingModule({
      imports: [config.module, DatabaseModule, ConfiguredStorageModule],
    }).compile();
    await module.init();
    const ds = module.get(DataSource);

    const [{ outbox }] = await ds.query<{ outbox: string | null }[]>(
      `SELECT to_regclass('public.storage_deletions')::text AS outbox`,
    );
    expect(outbox).toBeNull();
    // The queue, with the retry policy the service defines for it.
    const queues = await ds.query<Record<string, unknown>[]>(
      `SELECT retry_limit, retry_delay, retry_backoff, retry_delay_max, expire_seconds
         FROM pgboss.queue WHERE name = $1`,
      [FILE_DELETION_QUEUE],
    );
    expect(queues).toEqual([
      {
        retry_limit: FILE_DELETION_RETRY.retryLimit,
        retry_delay: FILE_DELETION_RETRY.retryDelaySeconds,
        retry_backoff: true,
        retry_delay_max: FILE_DELETION_RETRY.retryDelayMaxSeconds,
        expire_seconds: FILE_DELETION_RETRY.expireInSeconds,
      },
    ]);
    // A job per hundred keys, each key once, with the queue's policy.
    const jobs = await ds.query<{ keys: string[]; retry_limit: number }[]>(
      `SELECT data -> 'keys' AS keys, retry_limit FROM pgboss.job WHERE name = $1`,
      [FILE_DELETION_QUEUE],
    );
    expect(jobs.map((job) => job.keys.length).sort()).toEqual([100, 30]);
    expect(jobs.flatMap((job) => job.keys).sort()).toEqual([...KEYS].sort());
    expect(jobs.map((job) => job.retry_limit)).toEqual([20, 20]);

    await eventually(() => KEYS.every((key) => !existsSync(join(media, key))), 'the files to go');
    await eventually(
      async () => (await pendingFileDeletions(ds)).length === 0,
      'the jobs to complete',
    );
  });
});
