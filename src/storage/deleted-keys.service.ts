import { Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { withTimeout } from '../common/concurrency/with-timeout';
import { safeError } from '../common/logging/safe-error';
import {
  FILE_DELETION_QUEUE,
  FileDeletionsRepository,
  type PendingJob,
} from './file-deletions.repository';
import { isKeyOfOneImage } from './storage-keys';

/**
 * How long the keys read from the database are trusted: another instance's deletion stops being
 * delivered here within about this long (see README, Shared state between instances).
 */
const DELETED_KEYS_KEPT_MS = 5_000;
/** Read again in the background once this old, so that steady traffic never waits for them. */
const REFRESH_AHEAD_MS = 4_000;
/** How long a request waits for them when they are out of date, before going on without. */
const REFRESH_WAIT_MS = 1_000;
/** Keys this process deleted (or tried to), remembered: the least recently added go first. */
const OWN_KEPT_MAX = 20_000;

/**
 * Keys whose deletion is queued and not done (a deleted image's files, released renditions),
 * which delivery must not serve whatever the storage still holds: a deletion the storage refused
 * leaves the files in place until its job's retry succeeds, which back-off may put off for hours.
 * /media looks here (a set lookup, no query per request), and so does a transform URL for its
 * image's results (`derived/<id>/`).
 *
 * Two sources: the keys this process deletes after a commit ({@link add}, before their deletion
 * is tried: at once here), and the keys of every file-deletion job not done, read from the
 * database at most every {@link DELETED_KEYS_KEPT_MS} and only while delivery asks (another
 * instance's deletions). Every job, however large the backlog (an organisation's deletion is
 * hundreds of jobs): each read lists the ids of the jobs not done, sending nothing but the queue's
 * name; a job's keys are read once, when its id is first listed, and taken out (counted per key,
 * so that another job naming the key keeps it) when its id is no longer listed. A read goes over
 * the jobs queued or done since the last, not over the whole backlog's keys.
 * An image's keys are never used again for other bytes (they are built from its id), so a key
 * known deleted stays so.
 */
@Injectable()
export class DeletedKeys {
  private readonly logger = new Logger('DeletedKeys');
  private readonly own = new LRUCache<string, true>({ max: OWN_KEPT_MAX });
  /** The keys of each job not done when last read, by job id. */
  private readonly jobs = new Map<string, readonly string[]>();
  /** The keys of those jobs, each with the number of them that name it. */
  private readonly queued = new Map<string, number>();
  /** performance.now() of the last read of the queued keys (-Infinity: never read). */
  private readAt = Number.NEGATIVE_INFINITY;
  private reading: Promise<void> | undefined;
  private waiting: Promise<void> | undefined;
  private warned = false;

  constructor(private readonly repository: FileDeletionsRepository) {}

  /**
   * Keys this process is about to delete: not delivered from now on. Only those never written
   * again (an image's own files and its results' prefix, named by its id) are remembered: the
   * Ocha API's slug key (`products/<slug>.<ext>`) is taken again by a later import once its
   * deletion is done, and remembered here it would be 404 at this process for good. Its queued
   * job (read from the database) answers for it while its deletion is pending.
   */
  add(keys: Iterable<string>): void {
    for (const key of keys) if (isKeyOfOneImage(key)) this.own.set(key, true);
  }

  /**
   * Whether one of `keys` (or, for `derived/<id>/`, that prefix) is deleted or being deleted. No query
   * on the usual path: the keys known answer at once, but when those read from the database are
   * out of date (see {@link current}).
   */
  isDeleted(...keys: string[]): boolean | Promise<boolean> {
    const reading = this.current();
    return reading ? reading.then(() => this.hasAny(keys)) : this.hasAny(keys);
  }

  private hasAny(keys: string[]): boolean {
    return keys.some((key) => this.own.has(key) || this.queued.has(key));
  }

  /**
   * Undefined while the queued keys are recent enough to answer with; otherwise a promise that
   * settles once they are read again, or after {@link REFRESH_WAIT_MS}: one wait shared by the
   * requests meanwhile, after which they answer with what was read last until the read settles (a
   * database slow to answer holds each request once at most, not each for a second). Reads ahead
   * in the background under steady use.
   */
  private current(): Promise<void> | undefined {
    const age = performance.now() - this.readAt;
    if (age < REFRESH_AHEAD_MS) return undefined;
    const reading = this.read();
    if (age < DELETED_KEYS_KEPT_MS) return undefined;
    this.waiting ??= withTimeout(reading, REFRESH_WAIT_MS, 'Reading the queued file deletions')
      .catch(() => {
        // Not read in time: the keys read last answer for a while, as after a failed read.
        this.readAt = performance.now();
      })
      .finally(() => {
        this.waiting = undefined;
      });
    return this.waiting;
  }

  /** One read at a time; it never rejects. */
  private read(): Promise<void> {
    if (this.reading) return this.reading;
    // As old as the moment the query set out: a deletion committed while it ran may be missing.
    const started = performance.now();
    this.reading = this.readJobs()
      .then(
        () => {
          this.readAt = started;
          this.warned = false;
        },
        (error: unknown) => {
          // Tried again as though it had been read: what was read last answers meanwhile, and
          // requests do not each wait for a database that is away.
          this.readAt = performance.now();
          if (!this.warned) {
            this.warned = true;
            this.logger.warn(
              { err: safeError(error) },
              'Could not read the queued file deletions; delivery goes on with those read last',
            );
          }
        },
      )
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }

  /**
   * The jobs not done, as listed now: the keys of those listed for the first time read and taken
   * in (all of them at the first read: one query, no ids sent), then those no longer listed taken
   * out. Nothing changes until both queries have answered, and new jobs are taken in before done
   * ones are taken out: a key that a job done and a job queued since both name stays hidden
   * throughout, and after a read that failed half-way. A job listed, then done before its keys are
   * read, is left out; one queued since the list is listed next time.
   */
  private async readJobs(): Promise<void> {
    if (this.jobs.size === 0) {
      this.takeJobs(await this.repository.pendingJobs(FILE_DELETION_QUEUE));
      return;
    }
    const listed = new Set(await this.repository.pendingIds(FILE_DELETION_QUEUE));
    const unread = [...listed].filter((id) => !this.jobs.has(id));
    if (unread.length > 0) {
      this.takeJobs(await this.repository.pendingJobs(FILE_DELETION_QUEUE, unread));
    }
    for (const [id, keys] of this.jobs) {
      if (listed.has(id)) continue;
      this.jobs.delete(id);
      for (const key of keys) this.count(key, -1);
    }
  }

  /** Jobs not done whose keys were just read: taken in, unless known already. */
  private takeJobs(pending: readonly PendingJob[]): void {
    for (const { id, keys } of pending) {
      if (this.jobs.has(id)) continue;
      this.jobs.set(id, keys);
      for (const key of keys) this.count(key, 1);
    }
  }

  /** One job more, or one fewer, names `key`: queued while one does. */
  private count(key: string, by: 1 | -1): void {
    const jobs = (this.queued.get(key) ?? 0) + by;
    if (jobs > 0) this.queued.set(key, jobs);
    else this.queued.delete(key);
  }
}
