import {
  FILE_DELETION_QUEUE,
  FileDeletionsRepository,
} from '../../src/storage/file-deletions.repository';
import { ConfiguredStorageModule } from '../../src/storage/storage.module';
import { StorageDeletionsService } from '../../src/storage/storage-deletions.service';
import { eventuallyRead } from '../support/eventually';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';

/**
 * The file-deletion queue against a real database: a job whose worker stopped being heard from
 * (its process died mid-job, or its completion met a lost connection) goes back to be retried
 * once its heartbeat has lapsed, not after the queue's 15-minute expiry. This process runs as
 * `api` (it works no job), so the only thing that moves the job is pg-boss's maintenance pass.
 */
describe(StorageDeletionsService.name, () => {
  let m: IntegrationModule;
  let deletions: StorageDeletionsService;

  beforeAll(async () => {
    m = await startIntegrationModule('default', {
      imports: [ConfiguredStorageModule],
      env: { SERVICE_ROLE: 'api', JOB_HEARTBEAT_SECONDS: '10' },
    });
    deletions = m.get(StorageDeletionsService);
  });
  afterAll(() => m?.close());

  it('puts back a deletion whose worker was last heard from past its heartbeat, keys still queued', async () => {
    const key = 'uploads/abandoned/original.jpg';
    await deletions.discard([key], null, { wait: false });
    const [job] = await m.dataSource.query<{ id: string; heartbeat_seconds: number | null }[]>(
      `SELECT id, heartbeat_seconds FROM pgboss.job WHERE name = 'file-deletion'`,
    );
    expect(job.heartbeat_seconds).toBe(10);
    // As a worker that took it an hour ago and died (SIGKILL) leaves it.
    await m.dataSource.query(
      `UPDATE pgboss.job
          SET state = 'active', started_on = now() - interval '1 hour',
              heartbeat_on = now() - interval '1 hour'
        WHERE id = $1`,
      [job.id],
    );
    const state = await eventuallyRead(
      async () =>
        (
          await m.dataSource.query<{ state: string }[]>(
            `SELECT state FROM pgboss.job WHERE id = $1`,
            [job.id],
          )
        )[0].state,
      (value) => value !== 'active',
      'the abandoned deletion to be taken back',
      // The pass runs every JOB_HEARTBEAT_SECONDS (10 s); a loaded machine may delay one.
      40_000,
    );
    expect(state).toBe('retry');
    // Until a worker deletes it, the key still counts as queued for deletion.
    expect(
      await m.dataSource.transaction((manager) =>
        deletions.isQueued(manager, 'uploads/abandoned/original'),
      ),
    ).toBe(true);
  });

  it('lists the deletions not done, and reads the keys of all of them or of those asked for', async () => {
    await m.dataSource.query(`DELETE FROM pgboss.job WHERE name = 'file-deletion'`);
    for (const key of [
      'uploads/a/original.jpg',
      'uploads/b/original.jpg',
      'uploads/c/original.jpg',
    ])
      await deletions.discard([key], null, { wait: false });
    const job = (key: string) => `(SELECT id FROM pgboss.job WHERE data->'keys' ? '${key}')`;
    const [a, c] = await m.dataSource.query<{ id: string }[]>(
      `SELECT ${job('uploads/a/original.jpg')}::text AS id
       UNION ALL SELECT ${job('uploads/c/original.jpg')}::text`,
    );
    // b's first attempt failed (the storage refused it); c's deletion is done.
    await m.dataSource.query(
      `UPDATE pgboss.job SET state = 'retry', retry_count = 1 WHERE id = ${job('uploads/b/original.jpg')}`,
    );
    await m.dataSource.query(
      `UPDATE pgboss.job SET state = 'completed', completed_on = now()
        WHERE id = ${job('uploads/c/original.jpg')}`,
    );
    const repository = m.get(FileDeletionsRepository);
    const pending = await repository.pendingJobs(FILE_DELETION_QUEUE);
    expect(pending.flatMap((p) => p.keys).sort()).toEqual([
      'uploads/a/original.jpg',
      'uploads/b/original.jpg',
    ]);
    expect((await repository.pendingIds(FILE_DELETION_QUEUE)).sort()).toEqual(
      pending.map((p) => p.id).sort(),
    );
    // Asked for a and c: c is done, so only a.
    expect(await repository.pendingJobs(FILE_DELETION_QUEUE, [a.id, c.id])).toEqual([
      { id: a.id, keys: ['uploads/a/original.jpg'] },
    ]);
  });
});
