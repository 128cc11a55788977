import { Module } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { PostgresThrottlerStorage } from './postgres-throttler.storage';
import { RateLimitsRepository } from './rate-limits.repository';
import { RedisThrottlerStorage } from './redis-throttler.storage';
import {
  SHARED_STATE_CONFIG,
  sharedStateConfigProvider,
  type SharedStateConfig,
} from './shared-state.config';

/** The @nestjs/throttler storage every instance of the service counts in (see SharedStateModule). */
export const SHARED_THROTTLER_STORAGE = Symbol('SHARED_THROTTLER_STORAGE');

/**
 * State the instances of the service share, so that running several changes nothing a client
 * sees: the login limits' counts, in the service's own PostgreSQL, or in Redis when REDIS_URL is
 * set. (API keys' last_used_at needs no more than its own conditional write, see auth/.)
 */
@Module({
  providers: [
    sharedStateConfigProvider,
    RateLimitsRepository,
    {
      provide: SHARED_THROTTLER_STORAGE,
      inject: [SHARED_STATE_CONFIG, RateLimitsRepository],
      useFactory: (
        config: SharedStateConfig,
        rateLimits: RateLimitsRepository,
      ): ThrottlerStorage =>
        config.REDIS_URL
          ? new RedisThrottlerStorage(config.REDIS_URL, config.REDIS_KEY_PREFIX)
          : new PostgresThrottlerStorage(rateLimits),
    },
  ],
  exports: [SHARED_THROTTLER_STORAGE],
})
export class SharedStateModule {}
