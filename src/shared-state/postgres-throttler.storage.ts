import { Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { safeError } from '../common/logging/safe-error';
import {
  assertBlocks,
  type RateLimitState,
  type RateLimitsRepository,
} from './rate-limits.repository';

/** How often, at most, one instance sweeps rows no attempt needs any more. */
const SWEEP_INTERVAL_MS = 10_000;
/** Rows deleted by one sweep; a full batch sweeps again at the next attempt. */
const SWEEP_BATCH = 1_000;

/**
 * @nestjs/throttler's storage in the service's own PostgreSQL (RateLimitsRepository): the login
 * limits hold across every instance of the service, with no other infrastructure. Each attempt is
 * one upsert; every few seconds, one instance's attempt also deletes a bounded batch of rows whose
 * time is over (an idle row changes nothing: the next attempt would start it afresh).
 */
export class PostgresThrottlerStorage implements ThrottlerStorage {
  private readonly logger = new Logger(PostgresThrottlerStorage.name);
  private nextSweep = 0;

  constructor(private readonly rateLimits: RateLimitsRepository) {}

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
  ): Promise<RateLimitState> {
    assertBlocks(blockDuration);
    const state = await this.rateLimits.hit(key, ttl, limit, blockDuration);
    await this.sweepNowAndThen();
    return state;
  }

  private async sweepNowAndThen(): Promise<void> {
    const now = Date.now();
    if (now < this.nextSweep) return;
    this.nextSweep = now + SWEEP_INTERVAL_MS;
    try {
      if ((await this.rateLimits.sweep(SWEEP_BATCH)) === SWEEP_BATCH) this.nextSweep = 0;
    } catch (error) {
      // The attempt was counted; the rows wait for the next sweep.
      this.logger.warn({ err: safeError(error) }, 'Sweeping expired rate limits failed');
    }
  }
}
