import type { DataSource } from 'typeorm';
import { DeletedKeys } from './deleted-keys.service';
import { FileDeletionsRepository } from './file-deletions.repository';
import { derivedPrefix, imageObjectKey, importedImageKey } from './storage-keys';

const P = '0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e';
const I = '7c9e6679-7425-40de-944b-e07fc1f90ae7';

/**
 * The file-deletion jobs not done, as the database would list their keys: a stand-in for the
 * query, which test/integration/file-deletions.int-spec.ts runs against PostgreSQL.
 */
class QueuedDeletions extends FileDeletionsRepository {
  pending: string[] = [];

  constructor() {
    super(undefined as unknown as DataSource);
  }

  override pendingKeys(): Promise<string[]> {
    return Promise.resolve([...this.pending]);
  }
}

describe(DeletedKeys.name, () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it("takes an image's own keys as deleted at once, before their job is read", async () => {
    const deleted = new DeletedKeys(new QueuedDeletions());
    const original = imageObjectKey({ productId: P }, I, 'original', 'jpg');
    deleted.add([original, derivedPrefix(I)]);
    expect(await deleted.isDeleted(original)).toBe(true);
    expect(await deleted.isDeleted(derivedPrefix(I))).toBe(true);
    expect(await deleted.isDeleted(imageObjectKey({ productId: P }, I, 'thumb', 'webp'))).toBe(
      false,
    );
  });

  it("leaves the Ocha API's slug key to its queued job: delivered again once a later import took it", async () => {
    const queued = new QueuedDeletions();
    const deleted = new DeletedKeys(queued);
    const slugKey = importedImageKey('red-shoe', 'jpg');
    queued.pending = [slugKey];
    deleted.add([slugKey]);
    expect(await deleted.isDeleted(slugKey)).toBe(true);

    // Its deletion done, the key is free for the product's next import (claimSlugKey): once the
    // jobs are read again, its new file is delivered.
    queued.pending = [];
    jest.advanceTimersByTime(6_000);
    expect(await deleted.isDeleted(slugKey)).toBe(false);
  });
});
