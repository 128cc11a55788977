import { DeletedKeys } from '../../src/storage/deleted-keys.service';
import { FileDeletionsRepository } from '../../src/storage/file-deletions.repository';
import { ConfiguredStorageModule } from '../../src/storage/storage.module';
import { StorageDeletionsService } from '../../src/storage/storage-deletions.service';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';

/** A key of one file of a deleted image, the `n`th released. */
const keyOf = (n: number): string => `uploads/backlog-${n}/original.jpg`;

/**
 * What another instance's delivery takes as deleted, against the file-deletion jobs of a real
 * database: a fresh DeletedKeys knows nothing of its own, so all it knows it read from the queue
 * (this process runs as `api`: no job is worked, the deletions stay queued).
 */
describe(DeletedKeys.name, () => {
  let m: IntegrationModule;
  let deletions: StorageDeletionsService;

  beforeAll(async () => {
    m = await startIntegrationModule('default', {
      imports: [ConfiguredStorageModule],
      env: { SERVICE_ROLE: 'api' },
    });
    deletions = m.get(StorageDeletionsService);
  });
  afterAll(() => m?.close());
  beforeEach(() => m.dataSource.query(`DELETE FROM pgboss.job WHERE name = 'file-deletion'`));

  it('takes every queued deletion as deleted, a backlog of more than 500 jobs included', async () => {
    // An organisation's deletion, say: 60,000 keys, 600 jobs of 100, none worked yet.
    const keys = Array.from({ length: 60_000 }, (_, n) => keyOf(n));
    await deletions.discard(keys, null, { wait: false });
    const [{ jobs }] = await m.dataSource.query<{ jobs: number }[]>(
      `SELECT count(*)::int AS jobs FROM pgboss.job WHERE name = 'file-deletion'`,
    );
    expect(jobs).toBe(600);

    const elsewhere = new DeletedKeys(m.get(FileDeletionsRepository));
    const answers = await Promise.all(
      [0, 99, 100, 30_000, 59_999].map(async (n) => elsewhere.isDeleted(keyOf(n))),
    );
    expect(answers).toEqual([true, true, true, true, true]);
    expect(await elsewhere.isDeleted('uploads/never-deleted/original.jpg')).toBe(false);
  });

  it('keeps one read, on one connection, while the database does not answer it', async () => {
    await deletions.discard([keyOf(1)], null, { wait: false });
    const elsewhere = new DeletedKeys(m.get(FileDeletionsRepository));
    const locker = m.dataSource.createQueryRunner();
    await locker.connect();
    try {
      await locker.startTransaction();
      await locker.query('LOCK TABLE pgboss.job IN ACCESS EXCLUSIVE MODE');
      // Asked again and again, past the 5 s the keys read are trusted: the read still hangs.
      for (let round = 0; round < 7; round++) {
        await Promise.all(Array.from({ length: 20 }, async () => elsewhere.isDeleted(keyOf(1))));
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      const [{ reads }] = await m.dataSource.query<{ reads: number }[]>(
        `SELECT count(*)::int AS reads FROM pg_stat_activity
          WHERE datname = current_database() AND query LIKE '%CASE WHEN j.id = ANY%'
            AND pid <> pg_backend_pid()`,
      );
      expect(reads).toBe(1);
    } finally {
      await locker.rollbackTransaction();
      await locker.release();
    }
    // Answered at last, it is read as usual.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await elsewhere.isDeleted(keyOf(1))).toBe(true);
  }, 30_000);
});
