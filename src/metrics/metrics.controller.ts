import { Controller, Get, Header, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '../auth/decorators';
import { MetricsTokenGuard } from './metrics-token.guard';
import { Metrics } from './metrics.service';

/**
 * GET /metrics for Prometheus, outside the API prefix and the API document (an operator's
 * endpoint, not a client's). Public to the API's credentials: METRICS_TOKEN guards it instead.
 */
@Public()
@ApiExcludeController()
@Controller('metrics')
@UseGuards(MetricsTokenGuard)
export class MetricsController {
  constructor(private readonly metrics: Metrics) {}

  @Get()
  @Header('Content-Type', Metrics.CONTENT_TYPE)
  @Header('Cache-Control', 'no-store')
  scrape(): Promise<string> {
    return this.metrics.scrape();
  }
}
