import { randomUUID } from 'node:crypto';
import { decodeId } from '../../src/common/ids/short-id';
import {
  IMAGE_REBUILD_QUEUE,
  ImageRebuildJob,
  type ImageRebuildJobData,
} from '../../src/images/renditions/image-rebuild.job';
import { ImageRenditionsRepository } from '../../src/images/renditions/image-renditions.repository';
import { RenditionMaker } from '../../src/images/renditions/rendition-maker.service';
import { REBUILD_PLAN_QUEUE } from '../../src/images/renditions/rebuild-plan.job';
import { RebuildState, RebuildTrigger } from '../../src/images/renditions/rendition-rebuild.entity';
import { RenditionRebuildsRepository } from '../../src/images/renditions/rendition-rebuilds.repository';
import { RenditionRebuildsService } from '../../src/images/renditions/rendition-rebuilds.service';
import { RenditionsModule } from '../../src/images/renditions/renditions.module';
import { failedQueueOf, JobQueue } from '../../src/jobs/job-queue.service';
import { STORAGE_PROVIDER, type StorageProvider } from '../../src/storage/storage-provider';
import { newImage, newOrganization } from '../support/factories';
import { solidJpeg } from '../support/fixtures';
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
  async function runOfTwo(last: 'failed' | 'created', b: string = randomUUID()): Promise<string> {
    // Out of the way (superseded: a run over that found nothing would be answered again).
    await app.dataSource.query(
      `UPDATE rendition_rebuilds SET state = 'superseded' WHERE state IN ('planning', 'running')`,
    );
    const runs = app.get(RenditionRebuildsRepository);
    const run = { id: decodeId((await rebuilds.start(RebuildTrigger.Admin)).id)! };
    const a = randomUUID();
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

  /** A stored image made with no presets recorded: a rebuild makes its renditions from its JPEG. */
  async function imageToRebuild(): Promise<string> {
    const storage = app.get<StorageProvider>(STORAGE_PROVIDER);
    const { id: organizationId } = await newOrganization(app.dataSource);
    const data = await solidJpeg(320, 240);
    const image = await newImage(app.dataSource, {
      organizationId,
      file: { data, format: 'jpeg', mimeType: 'image/jpeg', width: 320, height: 240 },
      put: (key, body, contentType) => storage.put(key, body, { contentType, cacheControl: '' }),
    });
    return image.id;
  }

  it('counts done an image of a closed run once its failed job, retried by an admin, re-makes it', async () => {
    const image = await imageToRebuild();
    const stuck = await runOfTwo('failed', image);
    await rebuilds.start(RebuildTrigger.Admin);
    expect(await rebuilds.get(stuck)).toMatchObject({ state: RebuildState.Completed, failed: 1 });

    // POST /jobs/{id}/retry puts the job back; a worker runs it (this module's role runs none).
    await app.get(ImageRebuildJob).run({ runId: stuck, imageId: image });
    const rebuilt = await app.get(ImageRenditionsRepository).find(image);
    expect(rebuilt?.renditionSet).toBe(app.get(RenditionMaker).renditionSet);
    expect(await rebuilds.get(stuck)).toMatchObject({
      state: RebuildState.Completed,
      total: 2,
      done: 2,
      failed: 0,
    });
    // Run again (its process died before the job was marked complete): counted once.
    await app.get(ImageRebuildJob).run({ runId: stuck, imageId: image });
    expect(await rebuilds.get(stuck)).toMatchObject({ done: 2, failed: 0 });
  });
});
