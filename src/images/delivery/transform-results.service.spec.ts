import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DeletedKeys } from '../../storage/deleted-keys.service';
import { LocalStorageProvider } from '../../storage/providers/local.storage-provider';
import type { DeliveryConfig } from './delivery.config';
import type { DeliverableImage, DeliveryRepository } from './delivery.repository';
import type { TransformPlan } from './transform-plan';
import { TransformResults } from './transform-results.service';
import type { ImageProcessor } from '../processing/image-processor';

/** Local storage counting the existence checks, each a round trip on S3 or Cloudinary. */
class CountingStorage extends LocalStorageProvider {
  readonly checked = new Map<string, number>();

  override exists(key: string): Promise<boolean> {
    this.checked.set(key, (this.checked.get(key) ?? 0) + 1);
    return super.exists(key);
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
});
