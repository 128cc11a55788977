import { Injectable } from '@nestjs/common';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { refusalReason } from '../common/http/client-error.handler';
import { Metrics } from './metrics.service';

/** The route label of a request no route matched: its URL would make a series per URL. */
const UNMATCHED = 'unmatched';

/**
 * Every HTTP request's duration, by method, route pattern (`/api/v1/products/:productId`, never
 * the URL itself, so the series stay bounded whatever clients send) and status. An `onResponse`
 * hook: it runs once the answer is sent, whatever answered it (a route, a hook's refusal, the
 * not-found handler), and reads Fastify's own clock, which starts as the request arrives.
 */
@Injectable()
export class HttpMetricsHook {
  constructor(private readonly metrics: Metrics) {}

  install(fastify: FastifyInstance): void {
    fastify.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? UNMATCHED;
      this.metrics.observeHttpRequest(
        request.method,
        route,
        reply.statusCode,
        reply.elapsedTime / 1000,
      );
      done();
    });
    // What Node's parser refused reaches no hook: counted apart, by why.
    fastify.server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      const reason = refusalReason(error, socket);
      if (reason) this.metrics.countRefusedRequest(reason);
    });
  }
}
