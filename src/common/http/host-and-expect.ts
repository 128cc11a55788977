import type { Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors/app.error';

/**
 * Two refusals Node's HTTP server made by itself, before any hook of ours ran, with no body, no
 * `X-Request-Id` and no security headers: the only answers of the service that were not
 * problem+json. Both are now the service's to make.
 */

/**
 * Node answered an HTTP/1.1 request without `Host` with a bare 400. The server is started with
 * `requireHostHeader: false` (app.factory.ts) and this hook refuses it instead: 400 bad_request,
 * problem+json. HTTP/1.0 needs no Host, as before.
 */
export function requireHost(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    if (request.raw.httpVersion !== '1.0' && !request.headers.host) {
      return done(new AppError('bad_request', 'An HTTP/1.1 request must have a Host header.'));
    }
    done();
  });
}

/**
 * Node answered an `Expect` other than `100-continue` (`Expect: junk`) with a bare 417. RFC 9110
 * (10.1.1) lets a server meet it or not: the request is handled as if the header were not there.
 */
export function ignoreUnknownExpectations(server: Server): void {
  server.on('checkExpectation', (request, response) => server.emit('request', request, response));
}
