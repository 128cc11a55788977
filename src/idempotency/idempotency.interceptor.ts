import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { defer, lastValueFrom, type Observable } from 'rxjs';
import type { Principal } from '../auth/principal';
import { AppError } from '../common/errors/app.error';
import { IdempotencyService } from './idempotency.service';
import {
  ALIASES,
  bodyTapOf,
  IGNORE_MALFORMED_KEY,
  type IdempotentAttempt,
  RECORD_AS,
  REPLAY_AS,
  runInAttempt,
  type RecordAs,
  type ReplayAs,
} from './idempotent-attempt';

/**
 * Around an idempotent route (after authentication, before its pipes read the body): a request
 * with an Idempotency-Key runs the route within its attempt. A JSON body has been read already,
 * so the key is admitted here, before anything else; a multipart or CSV body is read by the
 * route's pipes, and the key admitted by the idempotent pipe that follows them (see
 * idempotent-body.pipe.ts), still before the work.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(
    private readonly idempotency: IdempotencyService,
    private readonly reflector: Reflector,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<FastifyRequest & { user?: Principal }>();
    if (!request.user) throw new Error('@Idempotent() used on a route without authentication');
    const attempt = this.begin(context, request, request.user);
    if (!attempt) return next.handle();
    attempt.recordAs = this.reflector.get<RecordAs | undefined>(RECORD_AS, context.getHandler());
    attempt.replayAs = this.reflector.get<ReplayAs | undefined>(REPLAY_AS, context.getHandler());
    return defer(() =>
      runInAttempt(attempt, async () => {
        const tap = bodyTapOf(request.raw);
        if (tap?.value !== undefined) await this.idempotency.admit(attempt, tap);
        else if (isParsedBody(request.body)) throw unkeyedBody(request.headers['content-type']);
        return lastValueFrom<unknown, undefined>(next.handle(), { defaultValue: undefined });
      }),
    );
  }

  /**
   * The request's attempt, or undefined without a key; a malformed key is 400
   * invalid_idempotency_key, or no key at all on a route that ignores it (see @Idempotent()).
   */
  private begin(
    context: ExecutionContext,
    request: FastifyRequest,
    principal: Principal,
  ): IdempotentAttempt | undefined {
    const aliases = this.reflector.get<readonly string[] | undefined>(
      ALIASES,
      context.getHandler(),
    );
    try {
      return this.idempotency.begin(request, principal, aliases);
    } catch (error) {
      const ignore = this.reflector.get<boolean | undefined>(
        IGNORE_MALFORMED_KEY,
        context.getHandler(),
      );
      if (ignore && error instanceof AppError && error.code === 'invalid_idempotency_key') {
        return undefined;
      }
      throw error;
    }
  }
}

/**
 * A body Fastify parsed (JSON: an object, a list, a value) rather than left to the route's pipes
 * as a stream (CSV) or unread (multipart, whose pipe admits the key).
 */
function isParsedBody(body: unknown): boolean {
  return body !== undefined && !(body !== null && typeof body === 'object' && 'pipe' in body);
}

/**
 * A parsed body that the Idempotency-Key hook did not hash (a Content-Type it did not take for
 * JSON, where Fastify did): refused rather than run without its key, which a retry would run again.
 */
function unkeyedBody(contentType: string | undefined): AppError {
  return new AppError(
    'unsupported_media_type',
    `An Idempotency-Key needs a body sent as application/json; Content-Type was ${JSON.stringify(contentType ?? '')}.`,
  );
}
