import { getEventListeners } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DeletedKeys } from '../../storage/deleted-keys.service';
import sharp from 'sharp';
import type { DataSource } from 'typeorm';
import { validateEnv } from '../../config/env.validation';
import { LocalStorageProvider } from '../../storage/providers/local.storage-provider';
import { deliveryHeaders, type CallOptions } from '../../storage/storage-provider';
import type { DeliveryConfig } from './delivery.config';
import { DeliveryRepository, type DeliverableImage } from './delivery.repository';
import type { TransformPlan } from './transform-plan';
import { RequestsGoneError, TransformResults } from './transform-results.service';
import { ImageProcessor } from '../processing/image-processor';

/** Local storage counting the existence checks, each a round trip on S3 or Cloudinary. */
class CountingStorage extends LocalStorageProvider {
  readonly checked = new Map<string, number>();

  override exists(key: string): Promise<boolean> {
    this.checked.set(key, (this.checked.get(key) ?? 0) + 1);
    return super.exists(key);
  }
}

/** Local storage whose read of the key `hang` gets no answer until its signal aborts. */
class HangingReads extends LocalStorageProvider {
  hang?: string;
  /** Whether a read is held, and its signal. */
  held = false;
  heldSignal?: AbortSignal;

  override read(key: string, options: CallOptions = {}) {
    if (key !== this.hang) return super.read(key);
    const signal = options.signal;
    this.held = true;
    this.heldSignal = signal;
    return new Promise<never>((_, reject) =>
      signal?.addEventListener('abort', () => reject(new Error('read aborted')), { once: true }),
    );
  }
}

/** The repository of a single process (no database server: every lease is granted), counting them. */
class CountingRepository extends DeliveryRepository {
  leases = 0;

  constructor() {
    super({ options: {} } as DataSource);
  }

  override tryLease(key: string) {
    this.leases += 1;
    return super.tryLease(key);
  }

  /** Every image is still there once its result is stored. */
  override findDeliverable(id: string) {
    return Promise.resolve({ id } as DeliverableImage);
  }
}

describe(TransformResults.name, () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'transform-results-'));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('keeps the results in use known as others pass through: the least recently used goes, not all', async () => {
    const storage = new CountingStorage(root, 'https://images.example');
    // Every result is stored already: nothing is made, so neither processor nor database is asked
    // (nor the deletions queued, which the delivery service asks before).
    const results = new TransformResults(
      storage,
      undefined as unknown as ImageProcessor,
      undefined as unknown as DeliveryRepository,
      undefined as unknown as DeliveryConfig,
      undefined as unknown as DeletedKeys,
    );
    const keyOf = (n: number) => `transforms/r${n}.webp`;
    for (let n = 0; n <= 10_001; n++) {
      await mkdir(dirname(join(root, keyOf(n))), { recursive: true });
      await writeFile(join(root, keyOf(n)), 'x');
    }
    const ensure = (n: number) =>
      results.ensure({} as DeliverableImage, keyOf(n), {} as TransformPlan);

    // One result asked for all along, among as many others as the process keeps known.
    await ensure(0);
    for (let n = 1; n <= 10_000; n++) {
      await ensure(n);
      if (n % 1_000 === 0) await ensure(0);
    }
    expect(storage.checked.get(keyOf(0))).toBe(1);
    // Still bounded: the one asked for longest ago was let go, and is looked up again.
    await ensure(10_001);
    await ensure(1);
    expect(storage.checked.get(keyOf(1))).toBe(2);
  });

  it('refuses a result to make while the processor is saturated before its lease or a second look in storage', async () => {
    const storage = new CountingStorage(root, 'https://images.example');
    const repository = new CountingRepository();
    // One slot and no queue: while one image is being made, any other is refused.
    const processor = new ImageProcessor(
      validateEnv({ IMAGE_PROCESSING_CONCURRENCY: '1', IMAGE_PROCESSING_QUEUE_LIMIT: '0' }),
    );
    const results = new TransformResults(
      storage,
      processor,
      repository,
      undefined as unknown as DeliveryConfig,
      undefined as unknown as DeletedKeys,
    );
    const pixels = await sharp({
      create: { width: 2000, height: 2000, channels: 3, background: 'red' },
    })
      .png()
      .toBuffer();
    // Takes the one slot at once (a buffer needs no stat first).
    const working = processor.transform(
      { buffer: pixels },
      { width: 100, height: 100, fit: 'cover', format: 'webp', quality: 80 },
    );
    try {
      const key = 'derived/i1/640x427-cover-q80.webp';
      await expect(
        results.ensure(
          { id: 'i1', storageKey: 'uploads/i1/original.png' } as DeliverableImage,
          key,
          {
            width: 640,
            height: 427,
            fit: 'cover',
            format: 'webp',
            quality: 80,
          } as TransformPlan,
        ),
      ).rejects.toMatchObject({ code: 'server_busy' });
      // The look that found it not stored, and nothing more: no lease, no second look.
      expect(storage.checked.get(key)).toBe(1);
      expect(repository.leases).toBe(0);
    } finally {
      await working;
    }
  });
  it("reads another image's original while one read hangs, and aborts that read once its requests go", async () => {
    const dataDir = join(root, 'data');
    const spool = join(dataDir, 'tmp', 'uploads');
    const storage = new HangingReads(join(root, 'storage'), 'https://images.example');
    const processor = new ImageProcessor(
      validateEnv({ IMAGE_PROCESSING_CONCURRENCY: '1', IMAGE_PROCESSING_QUEUE_LIMIT: '0' }),
    );
    const results = new TransformResults(
      storage,
      processor,
      new CountingRepository(),
      { DATA_DIR: dataDir } as DeliveryConfig,
      undefined as unknown as DeletedKeys,
    );
    const png = await sharp({
      create: { width: 300, height: 200, channels: 3, background: 'teal' },
    })
      .png()
      .toBuffer();
    const plan = { width: 60, height: 40, fit: 'cover', format: 'webp', quality: 80 };
    for (const id of ['slow', 'quick']) {
      await storage.put(`uploads/${id}/original.png`, png, {
        contentType: 'image/png',
        ...deliveryHeaders('image/png'),
      });
    }
    const image = (id: string) =>
      ({ id, storageKey: `uploads/${id}/original.png` }) as DeliverableImage;
    storage.hang = 'uploads/slow/original.png';

    const gone = new AbortController();
    const slow = results.ensure(
      image('slow'),
      'derived/slow/60x40-cover-q80.webp',
      plan as TransformPlan,
      gone.signal,
    );
    slow.catch(() => undefined);
    while (!storage.held) await new Promise((resolve) => setTimeout(resolve, 10));
    // The one processing slot is free: the other image's result is made meanwhile.
    await results.ensure(
      image('quick'),
      'derived/quick/60x40-cover-q80.webp',
      plan as TransformPlan,
    );
    expect(results.made).toBe(1);

    gone.abort();
    await expect(slow).rejects.toBeInstanceOf(RequestsGoneError);
    expect(storage.heldSignal?.aborted).toBe(true);
    expect(existsSync(spool) ? readdirSync(spool) : []).toEqual([]);
    expect(results.made).toBe(1);
  });

  it("leaves no listener on a request's signal once its result is made, however many results it waits for", async () => {
    const storage = new LocalStorageProvider(join(root, 'storage'), 'https://images.example');
    const results = new TransformResults(
      storage,
      new ImageProcessor(validateEnv({})),
      new CountingRepository(),
      { DATA_DIR: join(root, 'data') } as DeliveryConfig,
      undefined as unknown as DeletedKeys,
    );
    const png = await sharp({
      create: { width: 30, height: 20, channels: 3, background: 'teal' },
    })
      .png()
      .toBuffer();
    const image = { id: 'i1', storageKey: 'uploads/i1/original.png' } as DeliverableImage;
    await storage.put(image.storageKey, png, {
      contentType: 'image/png',
      ...deliveryHeaders('image/png'),
    });
    // One signal waiting for a dozen results in turn (a request whose result vanished waits for
    // it twice): each making it joined is done, and none of them still listens to it. (Node 24
    // warns of no AbortSignal's listeners, MaxListenersExceededWarning or other: counted here.)
    const request = new AbortController();
    for (let width = 1; width <= 12; width++) {
      const plan = { width, height: 4, fit: 'cover', format: 'webp', quality: 80 };
      await results.ensure(
        image,
        `derived/i1/${width}x4-cover-q80.webp`,
        plan as TransformPlan,
        request.signal,
      );
    }
    expect(results.made).toBe(12);
    expect(getEventListeners(request.signal, 'abort')).toHaveLength(0);

    // Fifty requests joined to one making: each answered, none listened to any more.
    const requests = Array.from({ length: 50 }, () => new AbortController());
    const plan = { width: 13, height: 4, fit: 'cover', format: 'webp', quality: 80 };
    await Promise.all(
      requests.map(({ signal }) =>
        results.ensure(image, 'derived/i1/13x4-cover-q80.webp', plan as TransformPlan, signal),
      ),
    );
    expect(results.made).toBe(13);
    const left = requests.map(({ signal }) => getEventListeners(signal, 'abort').length);
    expect(left).toEqual(requests.map(() => 0));
  });
});
