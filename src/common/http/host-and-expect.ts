import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors/app.error';
import { isMediaType } from './media-type';

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
 * refused. The interim answer is the service's now, and goes out only when the body is first
 * read: a request refused before that gets its final answer instead, and the client sends no body
 * (RFC 9110 §10.1.1). So do those refused by the pre-body authentication and the other preParsing
 * hooks (an image upload met by a saturated processor: 503 server_busy, images/intake/
 * busy-upload.hook.ts; a gallery upload for no product: 404, images/gallery/
 * product-before-body.hook.ts), a Content-Length over the route's limit (413: Fastify's for a JSON body,
 * the multipart interceptor's for an upload, the import's for a CSV), and a malformed id in the
 * path (400 invalid_id), all decided before anything reads the body.
 *
 * A JSON body over the route's limit is not invited whatever starts reading it: a preParsing
 * stage (the Idempotency-Key's digest) pipes the request before Fastify's parser compares its
 * length with the limit, and only the order of ticks keeps that pipe's first read after the 413.
 */
export function continueOnceAdmitted(server: Server, fastify: FastifyInstance): void {
  server.on('checkContinue', (request, response) => server.emit('request', request, response));
  fastify.addHook('preParsing', (request, reply, payload, done) => {
    if (!expectsContinue(request)) return done(null, payload);
    try {
      checkPath(request, reply);
    } catch (error) {
      return done(error as AppError);
    }
    if (!jsonOverLimit(request)) continueOnFirstRead(request.raw, reply.raw);
    done(null, payload);
  });
}

/**
 * The route's own checks of its path (a malformed id: 400 invalid_id), as Nest's pipes would
 * answer once the body is in: the same pipes, found in the route's parameters (path-checks.ts).
 * Fastify reads a JSON body (a data URI of 20 MB) before those pipes run: without this, that body
 * was invited and read to be refused for its URL. Multipart bodies are read after the pipes.
 * (A GET's body is never read: the delivery route's id, checked after its signature, is not here.)
 */
function checkPath(request: FastifyRequest, reply: FastifyReply): void {
  if (request.method === 'GET' || request.method === 'HEAD') return;
  // A body of another type is refused (415) before the pipes, as without Expect.
  if (!isMediaType(request.headers['content-type'], 'application/json')) return;
  for (const check of request.routeOptions.config.pathChecks ?? []) check(request, reply);
}

/** The request waits for `100 Continue` before sending its body. */
export function expectsContinue(request: FastifyRequest): boolean {
  return request.headers.expect?.trim().toLowerCase() === '100-continue';
}

/**
 * Sends `100 Continue` when the request's body is first asked for. Every reader of the body, the
 * body parsers, @fastify/multipart and the stages that pipe it, reads the request itself in the
 * end, and a Readable asks `_read` for bytes whenever a reader wants more than it holds; a client
 * that waits for the interim answer has sent none yet. Not once the final answer has begun: Node
 * reads (discards) an unread body after the response, and a 100 then would come after the answer.
 */
function continueOnFirstRead(request: IncomingMessage, response: ServerResponse): void {
  const read = request._read.bind(request);
  request._read = (size: number): void => {
    request._read = read;
    if (!response.headersSent && !response.writableEnded) response.writeContinue();
    read(size);
  };
}

/** A JSON body announced longer than the route takes: Fastify refuses it (413) unread. */
function jsonOverLimit(request: FastifyRequest): boolean {
  if (!isMediaType(request.headers['content-type'], 'application/json')) return false;
  return Number(request.headers['content-length']) > request.routeOptions.bodyLimit;
}
