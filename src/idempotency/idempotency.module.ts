import { Module } from '@nestjs/common';
import { JobsModule } from '../jobs/jobs.module';
import { idempotencyConfigProvider } from './idempotency.config';
import { IdempotencyHooks } from './idempotency.hooks';
import { IdempotencyKeySweeper } from './idempotency-key-sweeper';
import { IdempotencyKeysRepository } from './idempotency-keys.repository';
import { IdempotencyService } from './idempotency.service';
import { IdempotentWorkSubscriber } from './idempotent-work.subscriber';

/**
 * Idempotent retries: the `Idempotency-Key` header on the routes marked @Idempotent(), kept in
 * PostgreSQL for every instance. The modules of those routes import it for the interceptor and
 * pipes they use (not global: a module that lists its dependencies can be built on its own, as the
 * integration tests build ImagesModule).
 */
@Module({
  imports: [JobsModule],
  providers: [
    idempotencyConfigProvider,
    IdempotencyKeysRepository,
    IdempotencyService,
    IdempotencyHooks,
    IdempotencyKeySweeper,
    IdempotentWorkSubscriber,
  ],
  exports: [IdempotencyService],
})
export class IdempotencyModule {}
