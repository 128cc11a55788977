import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { defer, lastValueFrom, type Observable } from 'rxjs';
import type { Principal } from '../auth/principal';
import { IdempotencyService } from './idempotency.service';
import { bodyTapOf, runInAttempt } from './idempotent-attempt';

/**
 * Around an idempotent route (after authentication, before its pipes read the body): a request
 * with an Idempotency-Key runs the route within its attempt. A JSON body has been read already,
 * so the key is admitted here, before anything else; a multipart or CSV body is read by the
 * route's pipes, and the key admitted by the idempotent pipe that follows them (see
 * idempotent-body.pipe.ts), still before the work.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(private readonly idempotency: IdempotencyService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<FastifyRequest & { user?: Principal }>();
    if (!request.user) throw new Error('@Idempotent() used on a route without authentication');
    const attempt = this.idempotency.begin(request, request.user);
    if (!attempt) return next.handle();
    return defer(() =>
      runInAttempt(attempt, async () => {
        const tap = bodyTapOf(request.raw);
        if (tap?.value !== undefined) await this.idempotency.admit(attempt, tap);
        return lastValueFrom<unknown, undefined>(next.handle(), { defaultValue: undefined });
      }),
    );
  }
}
