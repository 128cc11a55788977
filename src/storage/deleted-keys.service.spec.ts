import type { DataSource } from 'typeorm';
import { DeletedKeys } from './deleted-keys.service';
import { FileDeletionsRepository, type PendingJob } from './file-deletions.repository';
import { derivedPrefix, imageObjectKey, importedImageKey } from './storage-keys';

const P = '0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e';
const I = '7c9e6679-7425-40de-944b-e07fc1f90ae7';

/**
 * The file-deletion jobs not done, as the database would list their keys: a stand-in for the
 * query, which test/integration/file-deletions.int-spec.ts runs against PostgreSQL.
 */
class QueuedDeletions extends FileDeletionsRepository {
  pending: string[] = [];
  /** How the next reads answer: listed, failing, or never (a database that does not answer). */
  answer: 'listed' | 'failing' | 'never' = 'listed';
  reads = 0;

  constructor() {
    super(undefined as unknown as DataSource);
  }

  /** A job of one key each, named by its key. */
  override pendingIds(): Promise<string[]> {
    return this.answered(() => [...this.pending]);
  }

  override pendingJobs(_queue: string, ids?: readonly string[]): Promise<PendingJob[]> {
    return this.answered(() =>
      this.pending
        .filter((key) => !ids || ids.includes(key))
        .map((key) => ({ id: key, keys: [key] })),
    );
  }

  private answered<T>(answer: () => T): Promise<T> {
    this.reads++;
    if (this.answer === 'failing') return Promise.reject(new Error('connection refused'));
    if (this.answer === 'never') return new Promise(() => undefined);
    return Promise.resolve(answer());
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

  it('holds requests once at most while the database does not answer, then answers with what it knows', async () => {
    const queued = new QueuedDeletions();
    const deleted = new DeletedKeys(queued);
    const original = imageObjectKey({ productId: P }, I, 'original', 'jpg');
    queued.pending = [original];
    expect(await deleted.isDeleted(original)).toBe(true);
    queued.answer = 'never';
    jest.advanceTimersByTime(6_000);

    // Out of date: the requests of the next second share one wait for the read...
    const first = deleted.isDeleted(original);
    const second = deleted.isDeleted(original);
    expect([first, second].every((answer) => answer instanceof Promise)).toBe(true);
    await jest.advanceTimersByTimeAsync(1_000);
    await expect(Promise.all([first, second])).resolves.toEqual([true, true]);
    // ...and, the read still not back, later ones answer at once with the keys read last.
    expect(deleted.isDeleted(original)).toBe(true);
    expect(queued.reads).toBe(2);
  });

  it('answers at once with the keys read last after a failed read, and reads again later', async () => {
    const queued = new QueuedDeletions();
    const deleted = new DeletedKeys(queued);
    const original = imageObjectKey({ productId: P }, I, 'original', 'jpg');
    queued.pending = [original];
    expect(await deleted.isDeleted(original)).toBe(true);
    queued.answer = 'failing';
    jest.advanceTimersByTime(6_000);
    expect(await deleted.isDeleted(original)).toBe(true);
    expect(deleted.isDeleted(original)).toBe(true);
    queued.answer = 'listed';
    queued.pending = [];
    jest.advanceTimersByTime(6_000);
    expect(await deleted.isDeleted(original)).toBe(false);
    expect(queued.reads).toBe(3);
  });
});
