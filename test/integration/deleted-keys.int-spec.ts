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
      // Asked again and again, past the 5 s the keys read are trusted: the read still hangs (a
      // query waiting for a lock is active; an idle connection's last query is not counted).
      for (let round = 0; round < 7; round++) {
        await Promise.all(Array.from({ length: 20 }, async () => elsewhere.isDeleted(keyOf(1))));
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      const [{ reads }] = await m.dataSource.query<{ reads: number }[]>(
        `SELECT count(*)::int AS reads FROM pg_stat_activity
          WHERE datname = current_database() AND query LIKE '%FROM pgboss.job AS j%'
            AND state = 'active' AND pid <> pg_backend_pid()`,
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

  describe('read again after jobs were queued or done', () => {
    const realNow = performance.now.bind(performance);
    /** How far this test moved the clock DeletedKeys reads: past 5 s, the jobs are read again. */
    let ahead = 0;
    const readAgain = (): void => {
      ahead += 6_000;
    };
    beforeEach(() => {
      ahead = 0;
      jest.spyOn(performance, 'now').mockImplementation(() => realNow() + ahead);
    });
    afterEach(() => jest.restoreAllMocks());

    /** `count` jobs of `perJob` keys each, inserted as pg-boss queues them; the `n`th key is keyOf(n). */
    const queueJobs = (count: number, perJob: number, from = 0): Promise<unknown> =>
      m.dataSource.query(
        `INSERT INTO pgboss.job (name, data)
         SELECT 'file-deletion', jsonb_build_object('keys', (
                  SELECT jsonb_agg('uploads/backlog-' || k || '/original.jpg')
                    FROM generate_series($1::int + j * $2::int, $1::int + j * $2::int + $2::int - 1) AS k))
           FROM generate_series(0, $3::int - 1) AS j`,
        [from, perJob, count],
      );
    const finish = (key: string, limit = 1): Promise<unknown> =>
      m.dataSource.query(
        `UPDATE pgboss.job SET state = 'completed', completed_on = now()
          WHERE id IN (SELECT id FROM pgboss.job
                        WHERE name = 'file-deletion' AND state = 'created' AND data->'keys' ? $1
                        LIMIT $2)`,
        [key, limit],
      );

    it('keeps a key hidden while another queued job still names it', async () => {
      await deletions.discard([keyOf(1)], null, { wait: false });
      await deletions.discard([keyOf(1), keyOf(2)], null, { wait: false });
      const elsewhere = new DeletedKeys(m.get(FileDeletionsRepository));
      expect(await elsewhere.isDeleted(keyOf(1))).toBe(true);

      await finish(keyOf(1));
      readAgain();
      expect(await elsewhere.isDeleted(keyOf(1))).toBe(true);
      await finish(keyOf(1));
      readAgain();
      expect(await elsewhere.isDeleted(keyOf(1))).toBe(false);
      expect(await elsewhere.isDeleted(keyOf(2))).toBe(false);
    });

    it('keeps a key hidden when one job naming it is done and another queued, whatever the read meets', async () => {
      await deletions.discard([keyOf(1)], null, { wait: false });
      await deletions.discard([keyOf(2)], null, { wait: false });
      const repository = m.get(FileDeletionsRepository);
      const elsewhere = new DeletedKeys(repository);
      expect(await elsewhere.isDeleted(keyOf(1))).toBe(true);
      // The first job done, and the same key queued again by another (a late write's, a redrive).
      await finish(keyOf(1));
      await deletions.discard([keyOf(1)], null, { wait: false });

      // The new job's keys cannot be read this time: what was read last answers.
      const keysOf = jest.spyOn(repository, 'pendingJobs');
      keysOf.mockRejectedValueOnce(new Error('connection lost'));
      readAgain();
      expect(await elsewhere.isDeleted(keyOf(1))).toBe(true);
      // While they are being read, a request not waiting for the read sees the key hidden too.
      let answered: (value: never[]) => void = () => undefined;
      keysOf.mockImplementationOnce(() => new Promise((resolve) => (answered = resolve)));
      readAgain();
      const during = elsewhere.isDeleted(keyOf(1));
      expect(await during).toBe(true);
      answered([]);
      await new Promise((resolve) => setImmediate(resolve));
      readAgain();
      expect(await elsewhere.isDeleted(keyOf(1))).toBe(true);
      expect(await elsewhere.isDeleted(keyOf(2))).toBe(true);
    });

    it('sends the database no list of the jobs it knows, however long the backlog', async () => {
      await queueJobs(2_000, 1);
      const elsewhere = new DeletedKeys(m.get(FileDeletionsRepository));
      expect(await elsewhere.isDeleted(keyOf(1_999))).toBe(true);

      // One job done, one queued since: the next read learns both...
      await finish(keyOf(0));
      await queueJobs(1, 1, 5_000);
      const query = jest.spyOn(m.dataSource, 'query');
      readAgain();
      expect(await elsewhere.isDeleted(keyOf(0), keyOf(5_000))).toBe(true);
      expect(await elsewhere.isDeleted(keyOf(0))).toBe(false);
      // ...sending its few parameters, not the 2,000 ids it read before (74,000 characters).
      const sent = query.mock.calls.reduce(
        (n, [, parameters]) => n + JSON.stringify(parameters ?? []).length,
        0,
      );
      expect(sent).toBeLessThan(500);
    });

    it('takes one job done out of a long backlog without going over the keys of the others', async () => {
      await queueJobs(2_000, 50);
      const elsewhere = new DeletedKeys(m.get(FileDeletionsRepository));
      expect(await elsewhere.isDeleted(keyOf(99_999))).toBe(true);

      await finish(keyOf(0));
      // Whatever is put in a set or a map while the jobs are read again: the 2,000 ids listed and
      // the done job's 50 keys, not the 100,000 keys of the jobs not done.
      const added = [jest.spyOn(Set.prototype, 'add'), jest.spyOn(Map.prototype, 'set')];
      readAgain();
      expect(await elsewhere.isDeleted(keyOf(0))).toBe(false);
      const keys = added.reduce((n, spy) => n + spy.mock.calls.length, 0);
      added.forEach((spy) => spy.mockRestore());
      expect(await elsewhere.isDeleted(keyOf(50), keyOf(99_999))).toBe(true);
      expect(keys).toBeLessThan(10_000);
    });
  });
});
