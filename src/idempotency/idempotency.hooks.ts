import type { Readable } from 'node:stream';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { IDEMPOTENCY_KEY_HEADER, IdempotencyService } from './idempotency.service';
import { attachBodyTap, attemptOf } from './idempotent-attempt';
import { BodyTap } from './payload-digest';
import { isMediaType } from '../common/http/media-type';

/**
 * The two Fastify hooks of idempotent retries (added once Nest has registered the routes, and
 * after the pre-body authentication hook, so that nothing is read for a caller refused there):
 *
 * - preParsing: a JSON body sent with an Idempotency-Key is hashed as the body parser reads it
 *   (BodyTap; the data-URI routes' own stage comes after it and sees the same bytes). Any route's:
 *   hashing costs next to nothing, and on a route that is not @Idempotent() nothing reads it;
 * - onSend: the answer of a request that holds its key is recorded, or the key released, before
 *   the answer goes out, so that a retry sent on receipt of it finds it recorded. Fastify runs
 *   onSend also when the client has gone meanwhile, which is when the answer matters most.
 */
@Injectable()
export class IdempotencyHooks implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly idempotency: IdempotencyService,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify) return; // A module without HTTP (a test's).
    fastify.addHook('preParsing', async (request: FastifyRequest, _reply, payload: Readable) => {
      if (request.headers[IDEMPOTENCY_KEY_HEADER] === undefined) return payload;
      if (!isMediaType(request.headers['content-type'], 'application/json')) return payload;
      const tap = BodyTap.over(payload);
      attachBodyTap(request.raw, tap);
      return tap;
    });
    fastify.addHook('onSend', async (request, reply, payload) => {
      const attempt = attemptOf(request.raw);
      if (attempt) {
        await this.idempotency.settle(attempt, {
          status: reply.statusCode,
          header: (name) => reply.getHeader(name) as string | undefined,
          body: payload,
        });
      }
      return payload;
    });
  }
}
