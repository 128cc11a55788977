import { Injectable } from '@nestjs/common';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { refusalReason } from '../common/http/client-error.handler';
import { announcesBody } from '../common/http/request-timeouts';
import { connectionState } from '../common/http/socket-problem';
import { Metrics } from './metrics.service';

/** The route label of a request no route matched: its URL would make a series per URL. */
const UNMATCHED = 'unmatched';

/**
 * The status label of a request whose client left before it was answered: nginx's 499
 * ("client closed request"), or the 408 the service wrote itself on the connection (a body too
 * slow: request-timeouts.ts) before closing it.
 */
const CLIENT_CLOSED = 499;

/** Set on a reply once counted, so that a response's 'error' and then 'close' count it once. */
const COUNTED = Symbol('httpMetricsCounted');
type Counted = FastifyReply & { [COUNTED]?: boolean };

/**
 * Every HTTP request's duration, by method, route pattern (`/api/v1/products/:productId`, never
 * the URL itself, so the series stay bounded whatever clients send) and status. An `onResponse`
 * hook: it runs once the answer is sent, whatever answered it (a route, a hook's refusal, the
 * not-found handler), and reads Fastify's own clock, which starts as the request arrives. A
 * request with a body whose connection closed before the answer (its client left mid-body, or
 * the service cut a body too slow) reaches no such hook: its response's 'close' counts it, as
 * 499 or 408; they were in no metric at all. Only requests with a body are watched so: a
 * response has several 'close' listeners already (a static file's ten), and an eleventh made
 * Node warn of a leak on each of them. A request without one whose client left before any answer
 * began (a slow read or transform a proxy gave up on) is watched on its request instead, and is
 * 499 too: it was in no metric, so the slowest requests were missing from the latencies.
 */
@Injectable()
export class HttpMetricsHook {
  constructor(private readonly metrics: Metrics) {}

  install(fastify: FastifyInstance): void {
    fastify.addHook('onRequest', (request, reply, done) => {
      if (announcesBody(request.headers)) {
        reply.raw.once('close', () => {
          if (reply.raw.writableFinished || (reply as Counted)[COUNTED]) return;
          const timedOut = !reply.raw.headersSent && reply.raw.statusCode === 408;
          this.observe(request, reply, timedOut ? 408 : CLIENT_CLOSED);
        });
      } else {
        // Closed with no answer begun (`aborted`: before its response ended). Unlike a body's,
        // an unread request does not end, so its 'close' comes only then or after its answer.
        request.raw.once('close', () => {
          if (!request.raw.aborted || reply.raw.headersSent || (reply as Counted)[COUNTED]) return;
          this.observe(request, reply, CLIENT_CLOSED);
        });
      }
      done();
    });
    fastify.addHook('onResponse', (request, reply, done) => {
      // Not again as the status its client never got.
      if (!(reply as Counted)[COUNTED]) this.observe(request, reply, reply.statusCode);
      done();
    });
    // What Node's parser refused reaches no hook: counted apart, by why.
    // One refusal a connection (it is closed after it): a malformed request pipelined behind
    // another waits for that one's answer, and the parser errs again on each chunk meanwhile.
    fastify.server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      const reason = refusalReason(error, socket);
      if (!reason) return;
      const state = connectionState(socket);
      if (state.refusalCounted) return;
      state.refusalCounted = true;
      this.metrics.countRefusedRequest(reason);
    });
  }

  /** A pipelined request dropped unrun, its client gone before its turn (pipelining.ts): 499. */
  countDropped(request: FastifyRequest, reply: FastifyReply): void {
    this.observe(request, reply, CLIENT_CLOSED);
  }

  private observe(request: FastifyRequest, reply: FastifyReply, status: number): void {
    (reply as Counted)[COUNTED] = true;
    const route = request.routeOptions.url ?? UNMATCHED;
    this.metrics.observeHttpRequest(request.method, route, status, reply.elapsedTime / 1000);
  }
}
