import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { RebuildState, RebuildTrigger } from '../../src/images/renditions/rendition-rebuild.entity';
import { RenditionRebuildsRepository } from '../../src/images/renditions/rendition-rebuilds.repository';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

/**
 * A rendition rebuild run's counters when pg-boss runs an image's job again after its count
 * committed (its process died before the job was marked complete): each image counts once, so the
 * run neither ends before its last image nor shows more images than it has.
 */
describe.each(AVAILABLE_BACKENDS)(`${RenditionRebuildsRepository.name} counts on %s`, (backend) => {
  let m: IntegrationModule;
  let db: DataSource;
  let runs: RenditionRebuildsRepository;

  beforeAll(async () => {
    m = await startIntegrationModule(backend, {
      imports: [],
      providers: [RenditionRebuildsRepository],
    });
    db = m.dataSource;
    runs = m.get(RenditionRebuildsRepository);
  });
  afterAll(() => m?.close());

  /** At most one run is under way: any a test left is ended. */
  const endRunsUnderWay = () =>
    db.query(`UPDATE rendition_rebuilds SET state = 'completed'
               WHERE state IN ('planning', 'running')`);

  /** A run of `total` images, all queued (running), with no run under way before it. */
  async function runningRun(total: number): Promise<string> {
    await endRunsUnderWay();
    const run = await db.transaction((manager) =>
      runs.create(manager, `set-${randomUUID()}`, RebuildTrigger.Admin),
    );
    await db.transaction(async (manager) => {
      await runs.addQueued(manager, run.id, total, null);
      await runs.planned(manager, run.id);
    });
    return run.id;
  }

  const count = (runId: string, imageId: string, outcome: 'done' | 'failed') =>
    db.transaction((manager) => runs.count(manager, runId, imageId, outcome));

  /** A run's state and counters, and how many images it remembers counting. */
  const at = (state: RebuildState, done: number, failed: number, kept: number) => ({
    state,
    done,
    failed,
    kept,
  });

  const progress = async (runId: string) => {
    const run = await runs.find(runId);
    const [{ kept }] = await db.query<{ kept: number }[]>(
      `SELECT count(*)::int AS kept FROM rendition_rebuild_images WHERE run_id = $1`,
      [runId],
    );
    return { state: run?.state, done: run?.done, failed: run?.failed, kept };
  };

  it('counts an image once, however often its job runs again', async () => {
    const runId = await runningRun(3);
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    expect(await count(runId, a, 'done')).toBe(true);
    // The job of `a` ran again after its count committed: done again, then failed for good.
    expect(await count(runId, a, 'done')).toBe(false);
    expect(await count(runId, a, 'failed')).toBe(false);
    expect(await count(runId, b, 'failed')).toBe(true);
    expect(await progress(runId)).toEqual(at(RebuildState.Running, 1, 1, 2));
    expect(await count(runId, c, 'done')).toBe(true);
    // Over with its last image: it remembers only the image it counted failed.
    expect(await progress(runId)).toEqual(at(RebuildState.Completed, 2, 1, 1));
  });

  it('counts nothing once the run is over', async () => {
    const runId = await runningRun(1);
    const image = randomUUID();
    expect(await count(runId, image, 'done')).toBe(true);
    // A late job of the same image, and one of an image the run never counted.
    expect(await count(runId, image, 'done')).toBe(false);
    expect(await count(runId, randomUUID(), 'failed')).toBe(false);
    expect(await progress(runId)).toEqual(at(RebuildState.Completed, 1, 0, 0));
  });

  it('counts one image once when its jobs count it at the same time', async () => {
    const runId = await runningRun(2);
    const image = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => count(runId, image, i % 2 ? 'done' : 'failed')),
    );
    // Counted once; a failure counted before a done moves to done (see the test below).
    expect(results.filter(Boolean).length).toBeGreaterThanOrEqual(1);
    expect(await progress(runId)).toMatchObject({
      done: 1,
      failed: 0,
      state: RebuildState.Running,
    });
  });

  it('moves an image counted failed to done when a retried job does it, the run over or not', async () => {
    const runId = await runningRun(3);
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    expect(await count(runId, a, 'failed')).toBe(true);
    // An admin retried the job that failed for good (POST /jobs/{id}/retry), and it did it.
    expect(await count(runId, a, 'done')).toBe(true);
    expect(await count(runId, a, 'done')).toBe(false);
    expect(await progress(runId)).toEqual(at(RebuildState.Running, 1, 0, 1));
    expect(await count(runId, b, 'failed')).toBe(true);
    expect(await count(runId, c, 'done')).toBe(true);
    // Over: it keeps the image it counted failed, which a retried job may yet do.
    expect(await progress(runId)).toEqual(at(RebuildState.Completed, 2, 1, 1));
    expect(await count(runId, b, 'failed')).toBe(false);
    expect(await count(runId, b, 'done')).toBe(true);
    expect(await progress(runId)).toEqual(at(RebuildState.Completed, 3, 0, 1));
  });

  it('counts an image once when its dead letter job comes after a retried job did it', async () => {
    const runId = await runningRun(2);
    const [a, b] = [randomUUID(), randomUUID()];
    // The job of `a` failed for good; an admin retried it before its dead letter job ran.
    expect(await count(runId, a, 'done')).toBe(true);
    expect(await count(runId, a, 'failed')).toBe(false);
    expect(await progress(runId)).toEqual(at(RebuildState.Running, 1, 0, 1));
    expect(await count(runId, b, 'failed')).toBe(true);
    expect(await progress(runId)).toEqual(at(RebuildState.Completed, 1, 1, 1));
    // A dead letter job of `a` later still (a second one, the retry having failed too).
    expect(await count(runId, a, 'failed')).toBe(false);
    expect(await progress(runId)).toEqual(at(RebuildState.Completed, 1, 1, 1));
  });

  it('counts an image failed for good twice, then done by a retry, once', async () => {
    const runId = await runningRun(2);
    const [a, b] = [randomUUID(), randomUUID()];
    expect(await count(runId, a, 'failed')).toBe(true);
    // Retried by an admin, it failed for good again: a second dead letter job.
    expect(await count(runId, a, 'failed')).toBe(false);
    expect(await count(runId, a, 'done')).toBe(true);
    expect(await count(runId, a, 'failed')).toBe(false);
    expect(await count(runId, a, 'done')).toBe(false);
    expect(await progress(runId)).toEqual(at(RebuildState.Running, 1, 0, 1));
    expect(await count(runId, b, 'done')).toBe(true);
    // Completed once: its finish is not moved by a count after it.
    const finished = (await runs.find(runId))?.finishedAt;
    expect(await progress(runId)).toEqual(at(RebuildState.Completed, 2, 0, 0));
    expect(await count(runId, a, 'done')).toBe(false);
    expect((await runs.find(runId))?.finishedAt).toEqual(finished);
  });

  it("moves an image only in the run whose job a retry did, not in a later run's", async () => {
    const older = await runningRun(1);
    const image = randomUUID();
    expect(await count(older, image, 'failed')).toBe(true);
    expect(await progress(older)).toEqual(at(RebuildState.Completed, 0, 1, 1));
    // A later run (no run under way now) queues the image again and fails it too.
    const later = await runningRun(1);
    expect(await count(later, image, 'failed')).toBe(true);
    // The older run's job, retried by an admin, does it.
    expect(await count(older, image, 'done')).toBe(true);
    expect(await progress(older)).toEqual(at(RebuildState.Completed, 1, 0, 1));
    expect(await progress(later)).toEqual(at(RebuildState.Completed, 0, 1, 1));
  });

  it('forgets what a superseded run counted, and counts nothing more for it', async () => {
    const runId = await runningRun(2);
    const failed = randomUUID();
    expect(await count(runId, failed, 'failed')).toBe(true);
    await db.transaction((manager) => runs.supersede(manager, runId));
    expect(await count(runId, failed, 'done')).toBe(false);
    expect(await count(runId, randomUUID(), 'done')).toBe(false);
    expect(await progress(runId)).toEqual(at(RebuildState.Superseded, 0, 1, 0));
  });

  it('completes a run whose images were all counted while it was planned', async () => {
    await endRunsUnderWay();
    const run = await db.transaction((manager) =>
      runs.create(manager, `set-${randomUUID()}`, RebuildTrigger.Admin),
    );
    await db.transaction((manager) => runs.addQueued(manager, run.id, 2, null));
    expect(await count(run.id, randomUUID(), 'done')).toBe(true);
    expect(await count(run.id, randomUUID(), 'failed')).toBe(true);
    expect((await progress(run.id)).state).toBe(RebuildState.Planning);
    await db.transaction((manager) => runs.planned(manager, run.id));
    expect(await progress(run.id)).toEqual(at(RebuildState.Completed, 1, 1, 1));
  });
});
