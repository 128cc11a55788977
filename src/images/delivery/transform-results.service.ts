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
 * Makes each result of a transform URL once and keeps it in storage, whatever the number of
 * requests and processes asking for it at the same time: within a process, concurrent requests
 * for one result share one making (a promise per key); across processes, the one that takes the
 * result's lease (a row, DeliveryRepository.tryLease) makes it while the others poll the storage
 * for it. Neither holds a database connection while it works or waits. A result is made from the
 * stored original (spooled to disk, as uploads are, once its making has a processing slot)
 * through the ImageProcessor, so it is bounded by the same pixel limit, slots and queue (503 when
 * full).
 */
@Injectable()
export class TransformResults {
  private readonly logger = new Logger('Delivery');
  private readonly making = new Map<string, Promise<void>>();
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

  /** Resolves once the result `plan` of `image` is stored under `key`. */
  async ensure(image: DeliverableImage, key: string, plan: TransformPlan): Promise<void> {
    if (this.known.get(key)) return;
    if (await this.storage.exists(key)) return this.remember(key);
    let making = this.making.get(key);
    if (!making) {
      // Not stored, and no request of this process making it: a saturated processor refuses now,
      // before the lease (a database round trip) and another look in storage, which overload
      // multiplied (whether another process is making it is known only from the lease). A
      // request joining a making under way in this process waits for it instead.
      this.processor.refuseIfBusy('transform');
      making = this.makeOnce(image, key, plan).finally(() => this.making.delete(key));
      this.making.set(key, making);
    }
    await making;
    this.remember(key);
  }

  /** Forgets that `key` is stored: it was found missing (deleted by hand, or by a sweep). */
  forget(key: string): void {
    this.known.delete(key);
  }

  private async makeOnce(image: DeliverableImage, key: string, plan: TransformPlan) {
    const deadline = Date.now() + WAIT_FOR_OTHER_MS;
    for (;;) {
      const lease = await this.repository.tryLease(key);
      if (lease) {
        let made = false;
        try {
          // Another process may have stored it between our look and our lease.
          if (!(await this.storage.exists(key))) {
            await this.make(image, key, plan);
            made = true;
          }
        } finally {
          await lease.release();
        }
        if (made) await this.unlessDeletedMeanwhile(image, key);
        return;
      }
      await sleep(POLL_MS);
      if (await this.storage.exists(key)) return;
      if (Date.now() > deadline) throw serverBusy();
    }
  }

  /** Makes the result and stores it under `key`. */
  private async make(image: DeliverableImage, key: string, plan: TransformPlan): Promise<void> {
    // Asked again (ensure asked before the lease): the processor may have filled up meanwhile.
    // Racy for requests arriving together (all find a slot free): the processor's queue decides.
    this.processor.refuseIfBusy('transform');
    const { width, height, fit, format, quality } = plan;
    // The original is read from storage into the spool once the making has its slot, not while
    // it waits for one (see ImageProcessor.transformRead).
    const result = await this.processor.transformRead(
      () => spoolStoredOriginal(this.storage, image.storageKey, this.config, 'transform'),
      releaseStoredOriginal,
      { width, height, fit, format, quality },
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
