import { DynamicModule, Module, type Type } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { LoadedConfig } from './config/app-config.module';
import { LoggingModule } from './common/logging/logging.module';
import { ProblemDetailsFilter } from './common/errors/problem-details.filter';
import { DatabaseModule } from './database/database.module';
import { HealthModule } from './health/health.module';
import { AdminBootstrapModule } from './auth/admin-bootstrap.module';
import { AuthModule } from './auth/auth.module';
import { ConfiguredStorageModule } from './storage/storage.module';
import { ProductsModule } from './products/products.module';
import { ImagesModule } from './images/images.module';
import { ProductEnrichmentModule } from './images/product-enrichment/product-enrichment.module';
import { ImportsModule } from './imports/imports.module';
import { RenditionsModule } from './images/renditions/renditions.module';
import { DeliveryModule } from './images/delivery/delivery.module';
import { CompatModule } from './compat/compat.module';
import { enabledCompatApis } from './config/env-values';
import { JobsModule } from './jobs/jobs.module';
import { MetricsModule } from './metrics/metrics.module';
import { IdempotencyModule } from './idempotency/idempotency.module';
import { ConsoleModule } from './console/console.module';

@Module({})
export class AppModule {
  static forRoot(config: LoadedConfig, extra: (Type | DynamicModule)[] = []): DynamicModule {
    return {
      module: AppModule,
      imports: [
        config.module,
        LoggingModule,
        // Global: the features inject its Metrics; GET /metrics only with a METRICS_TOKEN.
        MetricsModule.forRoot({ serveRoute: config.env.METRICS_TOKEN !== undefined }),
        DatabaseModule,
        HealthModule,
        AuthModule,
        ConfiguredStorageModule,
        ProductsModule,
        ImagesModule,
        ProductEnrichmentModule,
        ImportsModule,
        RenditionsModule,
        DeliveryModule,
        // The one job queue, in every role (features that queue or run jobs import it too), and
        // its admin routes.
        JobsModule,
        // The Idempotency-Key header of the routes marked @Idempotent() (its sweep runs here).
        IdempotencyModule,
        CompatModule.forRoot(enabledCompatApis(config.env.COMPAT_APIS)),
        AdminBootstrapModule,
        // The gallery console's page at /console (static files; it calls the API as a client).
        ConsoleModule,
        ...extra,
      ],
      providers: [{ provide: APP_FILTER, useClass: ProblemDetailsFilter }],
    };
  }
}
