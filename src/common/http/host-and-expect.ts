import type { Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors/app.error';

/**
 * Two refusals Node's HTTP server made by itself, before any hook of ours ran, with no body, no
 * `X-Request-Id` and no security headers: the only answers of the service that were not
 * problem+json. Both are now the service's to make; and so is the `100 Continue` it sent before
 * the caller was known.
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
    // Node keeps the first of several and drops the rest; RFC 9112 §3.2 asks for a 400, since a
    // proxy before the service may have read another one (a way to poison caches).
    if (hostLines(request.raw.rawHeaders) > 1) {
      return done(new AppError('bad_request', 'A request may have one Host header only.'));
    }
    done();
  });
}

/** How many Host lines the request had: Node's raw headers alternate names and values. */
function hostLines(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].length === 4 && rawHeaders[i].toLowerCase() === 'host') count++;
  }
  return count;
}

/**
 * Node answered an `Expect` other than `100-continue` (`Expect: junk`) with a bare 417. RFC 9110
 * (10.1.1) lets a server meet it or not: the request is handled as if the header were not there.
 */
export function ignoreUnknownExpectations(server: Server): void {
  server.on('checkExpectation', (request, response) => server.emit('request', request, response));
}

/**
 * Node answered `Expect: 100-continue` with `100 Continue` as soon as the headers arrived: before
 * the caller was authenticated, so a client without a credential sent its whole body to be
 * refused. Now the interim answer is sent by a `preParsing` hook added after the pre-body
 * authentication's (they run in the order added): once the request is admitted and its body is
 * about to be read. A refused request gets its final answer instead, and the client sends no body
 * (RFC 9110 §10.1.1).
 */
export function continueOnceAdmitted(server: Server, fastify: FastifyInstance): void {
  server.on('checkContinue', (request, response) => server.emit('request', request, response));
  fastify.addHook('preParsing', (request, reply, payload, done) => {
    const expect = request.headers.expect;
    if (expect?.trim().toLowerCase() === '100-continue' && !reply.raw.headersSent) {
      reply.raw.writeContinue();
    }
    done(null, payload);
  });
}
