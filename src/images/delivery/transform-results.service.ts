import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import {
  CONTENT_TYPES,
  deliveryHeaders,
  STORAGE_PROVIDER,
  type StorageProvider,
} from '../../storage/storage-provider';
import { AppError } from '../../common/errors/app.error';
import { DeletedKeys } from '../../storage/deleted-keys.service';
import { derivedPrefix } from '../../storage/storage-keys';
import { serverBusy } from '../processing/image-problems';
import { ImageProcessor } from '../processing/image-processor';
import { releaseStoredOriginal, spoolStoredOriginal } from '../stored-original';
import { DELIVERY_CONFIG, type DeliveryConfig } from './delivery.config';
import { DeliveryRepository, type DeliverableImage } from './delivery.repository';
import type { TransformPlan } from './transform-plan';

/** How long a request waits for another process making the same result, before 503. */
const WAIT_FOR_OTHER_MS = 60_000;
const POLL_MS = 100;
/** Keys known to be stored, kept so that a hit costs no storage round trip. */
const KNOWN_MAX = 10_000;

/** The extension of each result format. */
export const RESULT_EXTENSIONS: Record<TransformPlan['format'], string> = {
  avif: 'avif',
  webp: 'webp',
  jpeg: 'jpg',
  png: 'png',
  gif: 'gif',
};

/**
 * A making dropped because every request joined to it had gone (their clients closed the
 * connection): nobody is left to answer. An AppError, so that what answers it (to no one) is no
 * 500 with a stack in the log.
 */
export class RequestsGoneError extends AppError {
  constructor() {
    super('server_busy', 'Every request for this result has gone: it is not made.');
  }
}

/**
 * A result being made in this process, and the requests joined to it (a request without a
 * signal, which cannot go, keeps it wanted whatever the others do).
 */
class Making {
  done!: Promise<void>;
  private readonly requests: (AbortSignal | undefined)[] = [];
  private readonly gone = new AbortController();

  /**
   * Aborted (with RequestsGoneError) once every request joined to it has gone: a making waiting
   * for its read or a processing slot then leaves its queue at once, its place free for others,
   * rather than keeping it until it reaches a slot only to be dropped there; one reading its
   * original has its read aborted (its storage request ended, its spooled copy removed).
   */
  get signal(): AbortSignal {
    return this.gone.signal;
  }

  /**
   * Joins a request, until the returned `leave` (once the request has stopped waiting for it):
   * its listener is then removed, so that a signal waiting for several results in turn does not
   * gather one per making, each holding its making (and every signal joined to it) alive.
   */
  join(signal: AbortSignal | undefined): () => void {
    this.requests.push(signal);
    if (!signal) return () => undefined;
    const left = () => {
      if (this.abandoned) this.gone.abort(new RequestsGoneError());
    };
    signal.addEventListener('abort', left, { once: true });
    return () => signal.removeEventListener('abort', left);
  }

  /** Every request joined to it has gone: the making is dropped where it is (see {@link ensure}). */
  private get abandoned(): boolean {
    return this.requests.every((signal) => signal?.aborted === true);
  }
}

/**
 * Makes each result of a transform URL once and keeps it in storage, whatever the number of
 * requests and processes asking for it at the same time: within a process, concurrent requests
 * for one result share one making (a promise per key); across processes, the one that takes the
 * result's lease (a row, DeliveryRepository.tryLease) makes it while the others poll the storage
 * for it. Neither holds a database connection while it works or waits. A result is made from the
 * stored original (spooled to disk, as uploads are, once its making's turn to read comes: see
 * ImageProcessor.transformRead, whose reads hold no processing slot) through the ImageProcessor,
 * so it is bounded by the same pixel limit, slots and queue (503 when full). A making whose
 * requests have all gone (their clients closed the connection: a page left, an attacker's
 * sockets opened and closed) is dropped, its lease let go: still waiting for its read or a slot,
 * it leaves its queue at once (a spooled copy removed); reading, its read is aborted and what it
 * spooled removed; never decoded. Made anyway, each such request cost seconds of CPU at no cost
 * to its sender, up to IMAGE_PROCESSING_QUEUE_LIMIT of them waiting per process.
 */
@Injectable()
export class TransformResults {
  private readonly logger = new Logger('Delivery');
  private readonly making = new Map<string, Making>();
  /** Once full, the key used least recently goes (not all of them, each then looked up again). */
  private readonly known = new LRUCache<string, true>({ max: KNOWN_MAX });
  /** Results this process made (each one an image decoded and encoded): for metrics and tests. */
  made = 0;

  constructor(
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
    private readonly processor: ImageProcessor,
    private readonly repository: DeliveryRepository,
    @Inject(DELIVERY_CONFIG) private readonly config: DeliveryConfig,
    private readonly deleted: DeletedKeys,
  ) {}

  /**
   * Whether `image` is being deleted, its deletion queued (DeletedKeys): its results' prefix or
   * its original, which may go in separate jobs (an image's keys are split across jobs of 100). At
   * once on the instance that deleted it, within seconds on the others. None of its results is
   * served then, nor made again from an original the storage refused to delete (a deletion left
   * to the job's retry). Settles at once but when what this process knows of the other instances'
   * deletions is out of date.
   */
  areDeleted(image: DeliverableImage): boolean | Promise<boolean> {
    return this.deleted.isDeleted(derivedPrefix(image.id), image.storageKey);
  }

  /**
   * Resolves once the result `plan` of `image` is stored under `key`. `signal`: aborted once the
   * request has gone (its client closed the connection); a making every request of which has gone
   * is dropped (RequestsGoneError).
   */
  async ensure(
    image: DeliverableImage,
    key: string,
    plan: TransformPlan,
    signal?: AbortSignal,
  ): Promise<void> {
    if (this.known.get(key)) return;
    if (await this.storage.exists(key)) return this.remember(key);
    for (;;) {
      let making = this.making.get(key);
      if (!making) {
        if (signal?.aborted) throw new RequestsGoneError();
        // Not stored, and no request of this process making it: a saturated processor refuses
        // now, before the lease (a database round trip) and another look in storage, which
        // overload multiplied (whether another process is making it is known only from the
        // lease). A request joining a making under way in this process waits for it instead.
        this.processor.refuseIfBusy('transform');
        const started = new Making();
        started.done = this.makeOnce(image, key, plan, started).finally(() => {
          if (this.making.get(key) === started) this.making.delete(key);
        });
        this.making.set(key, (making = started));
      }
      const leave = making.join(signal);
      try {
        await making.done;
        break;
      } catch (error) {
        // Dropped as this request joined it, the others gone: made again for this one.
        if (error instanceof RequestsGoneError && !signal?.aborted) continue;
        throw error;
      } finally {
        leave();
      }
    }
    this.remember(key);
  }

  /** Forgets that `key` is stored: it was found missing (deleted by hand, or by a sweep). */
  forget(key: string): void {
    this.known.delete(key);
  }

  private async makeOnce(
    image: DeliverableImage,
    key: string,
    plan: TransformPlan,
    making: Making,
  ): Promise<void> {
    const deadline = Date.now() + WAIT_FOR_OTHER_MS;
    for (;;) {
      const lease = await this.repository.tryLease(key);
      if (lease) {
        let made = false;
        try {
          // Another process may have stored it between our look and our lease.
          if (!(await this.storage.exists(key))) {
            await this.make(image, key, plan, making);
            made = true;
          }
        } finally {
          // Dropped too (RequestsGoneError): another requester, of any process, may take it.
          await lease.release();
        }
        if (made) await this.unlessDeletedMeanwhile(image, key);
        return;
      }
      await sleep(POLL_MS);
      // Another process makes it: nobody left here to wait for it.
      making.signal.throwIfAborted();
      if (await this.storage.exists(key)) return;
      if (Date.now() > deadline) throw serverBusy();
    }
  }

  /** Makes the result and stores it under `key`. */
  private async make(
    image: DeliverableImage,
    key: string,
    plan: TransformPlan,
    making: Making,
  ): Promise<void> {
    // Asked again (ensure asked before the lease): the processor may have filled up meanwhile.
    // Racy for requests arriving together (all find a slot free): the processor's queue decides.
    this.processor.refuseIfBusy('transform');
    const { width, height, fit, format, quality } = plan;
    // The original is read from storage into the spool once the making's turn to read comes,
    // then it waits for a processing slot, holding none while it reads (see
    // ImageProcessor.transformRead). Once every request for it has gone, it is dropped where it
    // is: waiting, it leaves its queue; reading, its read is aborted and its spooled copy removed.
    const result = await this.processor.transformRead(
      () =>
        spoolStoredOriginal(
          this.storage,
          image.storageKey,
          this.config,
          'transform',
          making.signal,
        ),
      releaseStoredOriginal,
      { width, height, fit, format, quality },
      making.signal,
    );
    const contentType = CONTENT_TYPES[RESULT_EXTENSIONS[format]];
    await this.storage.put(key, result.data, { contentType, ...deliveryHeaders(contentType) });
    this.made += 1;
    this.logger.debug({ key, bytes: result.data.length }, 'Made a transform result');
  }

  /**
   * An image deleted while its result was made: the deletion's job may have cleared its results
   * before this one was written, and nothing would delete it but the orphan sweep, a day later.
   * So the row is read again once the result is stored. Gone: the result is deleted, and the
   * request answered as if it came after the deletion. Still there: its deletion has not
   * committed, and its job, which runs after, deletes this result with the others. Not known (the
   * database failed): the result is deleted too, to be made again by the next request, rather
   * than perhaps left behind.
   */
  private async unlessDeletedMeanwhile(image: DeliverableImage, key: string): Promise<void> {
    let found: DeliverableImage | null;
    try {
      found = await this.repository.findDeliverable(image.id);
    } catch (error) {
      await this.storage.delete(key).catch(() => undefined);
      throw error;
    }
    if (found) return;
    await this.storage.delete(key);
    throw new AppError('image_not_found', 'No such image.');
  }

  private remember(key: string): void {
    this.known.set(key, true);
  }
}
