import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { safeError } from '../common/logging/safe-error';
import { JobQueue } from '../jobs/job-queue.service';
import { JOB_ORGANIZATION_KEY } from '../jobs/jobs.repository';
import { DeletedKeys } from './deleted-keys.service';
import { FILE_DELETION_QUEUE, FileDeletionsRepository } from './file-deletions.repository';
import { STORAGE_PROVIDER, type StorageProvider } from './storage-provider';

/** The queue's name, defined beside the repository that reads its jobs. */
export { FILE_DELETION_QUEUE };

/**
 * How a failed deletion is retried: after 30 s, doubling up to 6 hours, 20 times (about three
 * days); after that the job stays failed, and the orphan sweep deletes the file once its grace
 * period has passed, as it does any object no row names. Migration 1796300000000 created the queue
 * with these.
 */
export const FILE_DELETION_RETRY = {
  retryLimit: 20,
  retryDelaySeconds: 30,
  retryDelayMaxSeconds: 6 * 3600,
  expireInSeconds: 15 * 60,
} as const;

/**
 * Keys per job. One removal's keys (an image's original and renditions) are one job, retried
 * together: a retry deletes again what was already deleted, which is harmless; a product's
 * hundreds of images are a few jobs, not thousands.
 */
const KEYS_PER_JOB = 100;
/** Storage requests one job makes at once. */
const DELETES_AT_ONCE = 8;

/**
 * How long a removal's request waits for its files' deletion before it answers all the same: one
 * image's files take one round of storage requests, but a product's thousands of files, or a
 * storage that stalls until STORAGE_TIMEOUT_MS on each round, would hold the DELETE for minutes.
 * What is not done by then goes on, and the queued job does it again.
 */
const REMOVAL_WAIT_MS = 5_000;

/**
 * When the keys of writes given up at STORAGE_TIMEOUT_MS are deleted again: long after any write
 * the storage had received whole, and was still applying, has landed.
 */
export const LATE_WRITE_DELETION_SECONDS = 600;

interface FileDeletionJob {
  keys: string[];
  [JOB_ORGANIZATION_KEY]?: string;
  /** A deletion done again after writes given up at their deadline (see sendAfterLateWrites). */
  late_writes?: true;
}

/**
 * File deletions, on the `file-deletion` queue. Callers enqueue keys in the transaction that
 * removes the rows naming them, so a committed removal always has its job and a rolled-back one
 * never does, then call {@link afterCommit} so this process deletes them at once rather than at
 * its next poll. Deleting a missing object succeeds, so a retried or duplicated job is harmless;
 * a storage error fails the attempt and the queue retries it with back-off (FILE_DELETION_RETRY).
 */
@Injectable()
export class StorageDeletionsService implements OnModuleInit {
  private readonly logger = new Logger('StorageDeletions');

  constructor(
    private readonly jobs: JobQueue,
    private readonly repository: FileDeletionsRepository,
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
    private readonly deleted: DeletedKeys,
  ) {}

  onModuleInit(): void {
    this.jobs.define<FileDeletionJob>({
      name: FILE_DELETION_QUEUE,
      ...FILE_DELETION_RETRY,
      // A job whose worker died, or whose completion met a lost database connection, is retried
      // soon after (JOB_HEARTBEAT_SECONDS), not after the 15-minute expiry; until then its keys
      // count as queued for deletion (isQueued), which holds back their reuse.
      heartbeat: true,
      handler: ({ keys }) => this.deleteAll(keys),
    });
  }

  /**
   * Queues the deletion of `keys` inside the caller's transaction: it commits with the change.
   * `organizationId`: the organisation whose action released them, or null for the service's own.
   */
  async enqueue(
    manager: EntityManager,
    keys: string[],
    organizationId: string | null,
  ): Promise<void> {
    const jobs = jobsOf(keys, organizationId);
    if (jobs.length > 0) await this.jobs.sendMany(FILE_DELETION_QUEUE, jobs, { manager });
  }

  /**
   * Files no transaction recorded (a change that failed, or gave them up): their deletion is
   * queued on its own, then done now as {@link afterRemoval} does, so that the failure is answered
   * with nothing of it left in storage; the job retries what fails. Left to the job, they stayed
   * until it ran (servable at their keys meanwhile). Not queued (the database failing too), they
   * are deleted now all the same; what then fails is left to the orphan sweep. `wait` false (a
   * storage that stalled on their writes would stall the answer too): only the job deletes them.
   */
  async discard(
    keys: string[],
    organizationId: string | null,
    { wait = true } = {},
  ): Promise<void> {
    const jobs = jobsOf(keys, organizationId);
    if (jobs.length === 0) return;
    const queued = await this.jobs.sendMany(FILE_DELETION_QUEUE, jobs).then(
      () => true,
      () => false,
    );
    if (wait || !queued) await this.afterRemoval(keys);
    else this.afterCommit();
  }

  /**
   * Queues the deletion of `keys` again, {@link LATE_WRITE_DELETION_SECONDS} from now: keys of
   * writes given up at their deadline, which the storage may still complete after the first
   * deletion. Only for keys never written again (an image's own files, named by its id).
   */
  async sendAfterLateWrites(keys: string[], organizationId: string | null): Promise<void> {
    for (const job of jobsOf(keys, organizationId)) {
      await this.jobs.send(
        FILE_DELETION_QUEUE,
        { ...job, late_writes: true },
        {
          startAfterSeconds: LATE_WRITE_DELETION_SECONDS,
        },
      );
    }
  }

  /** After a commit that queued deletions: this process's worker takes them now. */
  afterCommit(): void {
    this.jobs.wake(FILE_DELETION_QUEUE);
  }

  /**
   * After a commit that deleted images and queued their files' deletion: deletes those files now,
   * before the request answers, then wakes the worker as {@link afterCommit}. Left to the job, they
   * were served for a while after the DELETE had answered (by /media, by the storage's own URLs,
   * by a transform URL whose image a process still held); now, once it has answered, every
   * delivery URL of the image is 404. What fails here is retried by the queued job, which
   * otherwise finds nothing left to delete. Waits at most {@link REMOVAL_WAIT_MS}. The keys are
   * marked deleted first (DeletedKeys): a file the storage refuses to delete, or is slow to, is
   * not served by this process all the same, nor by the others once they read the queued job.
   */
  async afterRemoval(keys: string[]): Promise<void> {
    this.deleted.add(keys);
    const deleting = this.deleteAll([...new Set(keys)]).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, REMOVAL_WAIT_MS);
    });
    await Promise.race([deleting, waited]);
    clearTimeout(timer);
    this.afterCommit();
  }

  /** Whether a deletion of the key `stem` (under any extension) is queued and not done. */
  isQueued(manager: EntityManager, stem: string): Promise<boolean> {
    return this.repository.isQueued(manager, FILE_DELETION_QUEUE, stem);
  }

  /** One job: every key is tried; if any failed, the attempt fails (and is retried whole). */
  private async deleteAll(keys: string[]): Promise<{ deleted: number }> {
    const failures: unknown[] = [];
    for (let i = 0; i < keys.length; i += DELETES_AT_ONCE) {
      const results = await Promise.allSettled(
        keys.slice(i, i + DELETES_AT_ONCE).map((key) => this.deleteKey(key)),
      );
      for (const result of results) if (result.status === 'rejected') failures.push(result.reason);
    }
    if (failures.length > 0) {
      this.logger.warn(
        { err: safeError(failures[0]), failed: failures.length, keys: keys.length },
        'File deletion failed; will retry',
      );
      throw new Error(`${failures.length} of ${keys.length} file deletions failed`, {
        cause: failures[0],
      });
    }
    return { deleted: keys.length };
  }

  /**
   * A key, or a prefix (ending in `/`: an image's `derived/<id>/` results): every object listed
   * under it. An object written under the prefix while it is deleted is left to the orphan sweep.
   */
  private async deleteKey(key: string): Promise<void> {
    if (!key.endsWith('/')) return this.storage.delete(key);
    for await (const object of this.storage.list(key)) await this.storage.delete(object.key);
  }
}

function jobsOf(keys: string[], organizationId: string | null): FileDeletionJob[] {
  const unique = [...new Set(keys)];
  const jobs: FileDeletionJob[] = [];
  const owner = organizationId === null ? {} : { [JOB_ORGANIZATION_KEY]: organizationId };
  for (let i = 0; i < unique.length; i += KEYS_PER_JOB) {
    jobs.push({ keys: unique.slice(i, i + KEYS_PER_JOB), ...owner });
  }
  return jobs;
}
