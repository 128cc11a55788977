import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../common/errors/app.error';
import { METRICS_CONFIG, type MetricsConfig } from './metrics.config';

const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="metrics"' };

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * GET /metrics takes `Authorization: Bearer <METRICS_TOKEN>`, nothing else: not an API key or a
 * login token, so that a scraper's credential opens nothing of the API and no user's opens the
 * numbers. Compared in constant time, as digests of equal length, so neither the token's
 * characters nor its length can be found out by timing refusals. 401 with a Bearer challenge.
 */
@Injectable()
export class MetricsTokenGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(@Inject(METRICS_CONFIG) config: MetricsConfig) {
    // The route exists only with a token (MetricsModule.forRoot); an empty one matches nothing.
    this.expected = digest(config.METRICS_TOKEN ?? '');
  }

  canActivate(context: ExecutionContext): boolean {
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers.authorization;
    const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
    if (!match) {
      throw new AppError(
        'authentication_required',
        'Scraping the metrics needs Authorization: Bearer <METRICS_TOKEN>.',
        [],
        CHALLENGE,
      );
    }
    if (!timingSafeEqual(digest(match[1]), this.expected)) {
      throw new AppError('invalid_token', 'The metrics token is not the one configured.', [], {
        'WWW-Authenticate': 'Bearer realm="metrics", error="invalid_token"',
      });
    }
    return true;
  }
}
