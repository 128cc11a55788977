import { AppError } from '../../common/errors/app.error';
import { ServiceRole } from '../../config/env.validation';
import type { JobQueue } from '../../jobs/job-queue.service';
import type { ImageRenditionsRepository, RebuiltImage } from './image-renditions.repository';
import { ImageRebuildJob } from './image-rebuild.job';
import { OriginalMissingError } from '../stored-original';
import type { RenditionMaker } from './rendition-maker.service';
import { RebuildState, type RenditionRebuild } from './rendition-rebuild.entity';
import type { RenditionRebuildsRepository } from './rendition-rebuilds.repository';
import type { RenditionSwap } from './rendition-swap.service';
import type { RenditionsConfig } from './renditions.config';

const SET = 'thumb:100x100:cover';

/** The job with its collaborators faked: the counts it adds and the files it gives up are kept. */
function setUp(options: {
  run?: Partial<RenditionRebuild> | null;
  image?: Partial<RebuiltImage> | null;
  make?: () => Promise<Record<string, never>>;
  swapped?: boolean;
}) {
  const counted: string[] = [];
  const discarded: string[][] = [];
  const run =
    options.run === null
      ? null
      : { id: 'run', state: RebuildState.Running, renditionSet: SET, ...options.run };
  const image =
    options.image === null
      ? null
      : {
          id: 'image',
          organizationId: 'organization',
          productId: null,
          storageKey: 'k',
          width: 10,
          height: 10,
          renditions: {},
          renditionSet: 'old',
          ...options.image,
        };
  const job = new ImageRebuildJob(
    {} as JobQueue,
    { find: () => Promise.resolve(run) } as unknown as RenditionRebuildsRepository,
    { find: () => Promise.resolve(image) } as unknown as ImageRenditionsRepository,
    {
      renditionSet: SET,
      make: (_image: RebuiltImage, written: string[]) => {
        written.push('new-key');
        return (options.make ?? (() => Promise.resolve({})))();
      },
    } as unknown as RenditionMaker,
    {
      swap: () => Promise.resolve(options.swapped ?? true),
      discard: (of: RebuiltImage, keys: string[]) =>
        Promise.resolve(void discarded.push([of.organizationId, ...keys])),
      count: (_run: string, _image: string, outcome: string) =>
        Promise.resolve(counted.push(outcome) > 0),
    } as unknown as RenditionSwap,
    { SERVICE_ROLE: ServiceRole.All, IMAGE_PROCESSING_CONCURRENCY: 2 } as RenditionsConfig,
  );
  return { job, counted, discarded };
}

describe(ImageRebuildJob.name, () => {
  it('re-makes an image whose presets differ (the swap counts it)', async () => {
    const { job, counted } = setUp({});
    await expect(job.run({ runId: 'run', imageId: 'image' })).resolves.toEqual({
      outcome: 'remade',
    });
    expect(counted).toEqual([]);
  });

  it('counts an image already made with the run presets, or gone, as done without work', async () => {
    for (const [image, outcome] of [
      [{ renditionSet: SET }, 'current'],
      [null, 'gone'],
    ] as const) {
      const { job, counted } = setUp({ image });
      await expect(job.run({ runId: 'run', imageId: 'image' })).resolves.toEqual({
        outcome,
      });
      expect(counted).toEqual(['done']);
    }
  });

  it('does nothing for a superseded run', async () => {
    const { job, counted } = setUp({ run: { state: RebuildState.Superseded } });
    await expect(job.run({ runId: 'run', imageId: 'image' })).resolves.toEqual({
      outcome: 'superseded',
    });
    expect(counted).toEqual([]);
  });

  it('counts a failure retrying cannot mend at once, and gives up the files it wrote', async () => {
    for (const error of [new OriginalMissingError('k'), new AppError('invalid_image', 'corrupt')]) {
      const { job, counted, discarded } = setUp({ make: () => Promise.reject(error) });
      const result = await job.run({ runId: 'run', imageId: 'image' });
      expect(result.outcome).toBe('failed');
      expect(counted).toEqual(['failed']);
      expect(discarded).toEqual([['organization', 'new-key']]);
    }
  });

  it('retries other failures, counting the image failed only once its job failed for good', async () => {
    const failing = () => Promise.reject(new Error('storage unavailable'));
    const { job, counted } = setUp({ make: failing });
    await expect(job.run({ runId: 'run', imageId: 'image' })).rejects.toThrow(
      'storage unavailable',
    );
    expect(counted).toEqual([]);
    // Its last attempt threw, or its process died during it: pg-boss's dead letter job.
    await job.failedForGood({ runId: 'run', imageId: 'image' });
    expect(counted).toEqual(['failed']);
  });

  it('counts nothing for a job failed for good of a superseded run', async () => {
    const { job, counted } = setUp({ run: { state: RebuildState.Superseded } });
    await job.failedForGood({ runId: 'run', imageId: 'image' });
    expect(counted).toEqual([]);
  });

  it('leaves a run for other presets to instances configured with them', async () => {
    const { job, counted } = setUp({ run: { renditionSet: 'thumb:50x50:cover' } });
    await expect(job.run({ runId: 'run', imageId: 'image' })).rejects.toThrow(/not the run's/);
    expect(counted).toEqual([]);
  });

  it('tries again when the image changed while its renditions were made', async () => {
    const { job, counted } = setUp({ swapped: false });
    await expect(job.run({ runId: 'run', imageId: 'image' })).rejects.toThrow(/changed/);
    expect(counted).toEqual([]);
  });
});
