import { randomUUID } from 'node:crypto';
import { decodeId } from '../../src/common/ids/short-id';
import {
  IMAGE_REBUILD_QUEUE,
  type ImageRebuildJobData,
} from '../../src/images/renditions/image-rebuild.job';
import { REBUILD_PLAN_QUEUE } from '../../src/images/renditions/rebuild-plan.job';
import { RebuildState, RebuildTrigger } from '../../src/images/renditions/rendition-rebuild.entity';
import { RenditionRebuildsRepository } from '../../src/images/renditions/rendition-rebuilds.repository';
import { RenditionRebuildsService } from '../../src/images/renditions/rendition-rebuilds.service';
import { RenditionsModule } from '../../src/images/renditions/renditions.module';
import { failedQueueOf, JobQueue } from '../../src/jobs/job-queue.service';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';

/**
 * A running rendition rebuild whose images' jobs are all gone without counting every image: an
 * image's job failed for good and so did the job that counts it (`renditions-rebuild-failed`), or
 * pg-boss's maintenance deleted a job that waited too long. Its counts never reach its total.
 */
describe(`${RenditionRebuildsService.name} with a run that cannot finish`, () => {
  let app: IntegrationModule;
  let rebuilds: RenditionRebuildsService;
  let jobs: JobQueue;

  beforeAll(async () => {
    // The service's own rebuild (its presets, storage and jobs), with no run at start-up; the
    // `api` role works no job: the tests move the jobs themselves.
    app = await startIntegrationModule('default', {
      imports: [RenditionsModule.forCli()],
      env: { SERVICE_ROLE: 'api' },
    });
    rebuilds = app.get(RenditionRebuildsService);
    jobs = app.get(JobQueue);
  });
  afterAll(() => app?.close());

  /** A run planned with two images, one counted done; the other's job in `state`, and its DLQ job's. */
  async function runOfTwo(last: 'failed' | 'created'): Promise<string> {
    await app.dataSource.query(
      `UPDATE rendition_rebuilds SET state = 'completed' WHERE state IN ('planning', 'running')`,
    );
    const runs = app.get(RenditionRebuildsRepository);
    const run = { id: decodeId((await rebuilds.start(RebuildTrigger.Admin)).id)! };
    const [a, b] = [randomUUID(), randomUUID()];
    await app.dataSource.transaction(async (manager) => {
      await runs.addQueued(manager, run.id, 2, b);
      await runs.planned(manager, run.id);
      await runs.count(manager, run.id, a, 'done');
    });
    const data: ImageRebuildJobData = { runId: run.id, imageId: b };
    const image = await jobs.send(IMAGE_REBUILD_QUEUE, data);
    const counting = await jobs.send(failedQueueOf(IMAGE_REBUILD_QUEUE), data);
    await app.dataSource.query(
      `UPDATE pgboss.job SET state = $2::pgboss.job_state WHERE id = ANY($1::uuid[])`,
      [[image, counting], last],
    );
    await app.dataSource.query(`DELETE FROM pgboss.job WHERE name = $1`, [REBUILD_PLAN_QUEUE]);
    return run.id;
  }

  it('closes it, its images left counted failed, and starts a new run when asked to', async () => {
    const stuck = await runOfTwo('failed');
    expect(await rebuilds.get(stuck)).toMatchObject({ state: RebuildState.Running, done: 1 });
    const next = await rebuilds.start(RebuildTrigger.Admin);
    expect(decodeId(next.id)).not.toBe(stuck);
    expect(next.state).toBe(RebuildState.Planning);
    expect(await rebuilds.get(stuck)).toMatchObject({
      state: RebuildState.Completed,
      total: 2,
      done: 1,
      failed: 1,
    });
  });

  it('answers a running run whose last job may still run', async () => {
    const running = await runOfTwo('created');
    expect(decodeId((await rebuilds.start(RebuildTrigger.Admin)).id)).toBe(running);
    expect(await rebuilds.get(running)).toMatchObject({ state: RebuildState.Running, failed: 0 });
  });
});
