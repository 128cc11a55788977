import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { JobQueue } from '../jobs/job-queue.service';
import { IdempotencyKeysRepository } from './idempotency-keys.repository';

/** The queue of the sweep: one job an hour. */
export const IDEMPOTENCY_KEY_SWEEP_QUEUE = 'idempotency-key-sweep';
/** Keys deleted by one statement. */
const BATCH = 1000;

/**
 * Deletes the idempotency keys past IDEMPOTENCY_KEY_TTL_HOURS: a scheduled job, hourly, that
 * one instance runs per tick. An expired key is already forgotten by the claim (which takes its
 * row over); the sweep only keeps the table to the keys still remembered.
 */
@Injectable()
export class IdempotencyKeySweeper implements OnModuleInit {
  private readonly logger = new Logger('Idempotency');

  constructor(
    private readonly jobs: JobQueue,
    private readonly keys: IdempotencyKeysRepository,
  ) {}

  onModuleInit(): void {
    this.jobs.define({
      name: IDEMPOTENCY_KEY_SWEEP_QUEUE,
      schedule: '47 * * * *',
      retryLimit: 1,
      handler: async () => ({ deleted: await this.sweep() }),
    });
  }

  /** Deletes every expired key, a batch at a time; how many. */
  async sweep(): Promise<number> {
    let deleted = 0;
    let batch: number;
    do {
      batch = await this.keys.sweep(BATCH);
      deleted += batch;
    } while (batch === BATCH);
    if (deleted > 0) this.logger.log({ deleted }, `Swept ${deleted} expired idempotency key(s)`);
    return deleted;
  }
}
