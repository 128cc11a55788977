import { Global, Module, type DynamicModule } from '@nestjs/common';
import { DatabasePoolCollector } from './database-pool.collector';
import { HttpMetricsHook } from './http-metrics.hook';
import { MetricsTokenGuard } from './metrics-token.guard';
import { metricsConfigProvider } from './metrics.config';
import { MetricsController } from './metrics.controller';
import { Metrics } from './metrics.service';

/**
 * The application's metrics (metrics.service.ts) and GET /metrics. Global: the features that
 * report numbers (images, storage, jobs) inject {@link Metrics} without importing this module,
 * and none of them is imported here, so dependencies point one way. The route is served only when
 * METRICS_TOKEN is set (`serveRoute`); the numbers are kept either way, at the cost of a few
 * counter increments per request.
 */
@Global()
@Module({})
export class MetricsModule {
  static forRoot(options: { serveRoute: boolean }): DynamicModule {
    return {
      module: MetricsModule,
      controllers: options.serveRoute ? [MetricsController] : [],
      providers: [
        metricsConfigProvider,
        Metrics,
        HttpMetricsHook,
        MetricsTokenGuard,
        DatabasePoolCollector,
      ],
      exports: [Metrics, HttpMetricsHook],
    };
  }
}
