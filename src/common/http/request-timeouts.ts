import { randomUUID } from 'node:crypto';
import type {
  IncomingHttpHeaders,
  IncomingMessage,
  Server,
  ServerOptions,
  ServerResponse,
} from 'node:http';
import { Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors/app.error';
import { toProblem } from '../errors/problem-details';
import type { HttpTimeoutsConfig } from './http.config';
import { SendStallWatch } from './send-stall';
import { refusalWaits, writeProblemOnSocket } from './socket-problem';

/** The request being received on a connection, for the id of a timeout's answer. */
const CURRENT_REQUEST = Symbol('currentRequestId');
type TrackedSocket = Socket & {
  [CURRENT_REQUEST]?: string;
  /** Node's in-flight response on this connection (what its own timeout answer checks too). */
  _httpMessage?: (ServerResponse & { req?: IncomingMessage & { id?: string } }) | null;
};

const logger = new Logger('HTTP');

/**
 * The HTTP server's timeouts, for the Fastify adapter. Node enforces the first two, for requests
 * still arriving only (the time the service takes to answer is never counted; a client that stops
 * reading the answer is cut by HTTP_SEND_TIMEOUT_MS: SendStallWatch):
 * - HTTP_HEADERS_TIMEOUT_MS: the request line and headers (a slowloris client);
 * - HTTP_REQUEST_TIMEOUT_MS: the whole request, body included (Fastify leaves it off by default);
 * - HTTP_KEEP_ALIVE_TIMEOUT_MS: how long an idle keep-alive connection is kept.
 * Node checks its timeouts every `connectionsCheckingInterval` (30 s by default, so a request
 * could outlive its timeout by that much): here a quarter of the header timeout, at most a second.
 */
export function httpServerTimeouts(config: HttpTimeoutsConfig): {
  requestTimeout: number;
  keepAliveTimeout: number;
  http: ServerOptions;
} {
  return {
    requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeout: config.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    http: {
      headersTimeout: config.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: Math.min(1000, Math.floor(config.HTTP_HEADERS_TIMEOUT_MS / 4)),
    },
  };
}

/**
 * Answers the timeouts of slow clients with `408 request_timeout` problem+json and closes the
 * connection: Node's header and request timeouts (its 'clientError', answered here before
 * Fastify's plain-JSON default sees it), and a body that trickles. A fixed whole-request timeout
 * long enough for the largest upload over a slow mobile link would let a body of one byte every
 * few seconds hold a connection just as long; so, as Apache's mod_reqtimeout does, a body must
 * also keep an average rate: HTTP_BODY_MIN_BYTES_PER_SECOND, counted from HTTP_HEADERS_TIMEOUT_MS
 * after the headers. A timed-out request's temporary files go with it (see RequestSpool).
 */
export function registerRequestTimeouts(
  app: NestFastifyApplication,
  config: HttpTimeoutsConfig,
): void {
  const server: Server = app.getHttpServer();
  const stalls = new SendStallWatch(config.HTTP_SEND_TIMEOUT_MS);
  server.prependListener('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code !== 'ERR_HTTP_REQUEST_TIMEOUT') return;
    const tracked = socket as TrackedSocket;
    const answer = () => {
      // Headers not in (a request under way is its route's): a refusal by the parser, logged as
      // client-error.handler logs the others, a warning with the parser's code, and a new id.
      const refused = tracked._httpMessage?.req;
      const parserError = refused ? undefined : error.code;
      // Its own id (requestIdFor), also while it waited its turn behind another (pipelining.ts).
      const id = refused?.id ?? (parserError ? undefined : tracked[CURRENT_REQUEST]);
      answerTimeout(tracked, id, 'The request did not arrive in time.', parserError);
    };
    // Pipelined behind a request still being answered: after that answer, not in its place.
    if (!socket.destroyed && refusalWaits(socket, answer)) return;
    answer();
  });
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', (request, reply, done) => {
      const socket = request.raw.socket;
      // app.inject() has no socket, and no slow clients.
      if (socket instanceof Socket) {
        (socket as TrackedSocket)[CURRENT_REQUEST] = request.id;
        stalls.watch(request.id, reply.raw, socket);
        const rate = config.HTTP_BODY_MIN_BYTES_PER_SECOND;
        if (rate > 0 && announcesBody(request.raw.headers)) {
          watchBodyRate(request, reply, socket, config.HTTP_HEADERS_TIMEOUT_MS, rate);
        }
      }
      done();
    });
}

/** Whether a request's headers say a body follows (a length above 0, or a transfer coding). */
export function announcesBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (!!length && length !== '0');
}

/**
 * Cuts a body that, `graceMs` after the headers, has not kept up an average of `rate` bytes a
 * second since: the deadline moves on with every byte that arrives (by 1/rate s each), and is
 * looked at again only when it is reached. Bytes are counted on the socket, whoever reads them.
 */
function watchBodyRate(
  request: FastifyRequest,
  reply: FastifyReply,
  socket: Socket,
  graceMs: number,
  rate: number,
): void {
  const start = Date.now();
  const base = socket.bytesRead;
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    if (request.raw.complete || reply.raw.writableEnded || socket.destroyed) return;
    const received = socket.bytesRead - base;
    const wait = start + graceMs + (received / rate) * 1000 - Date.now();
    if (wait > 0) {
      timer = setTimeout(check, Math.max(wait, 100)).unref();
      return;
    }
    answerTimeout(socket, request.id, 'The request body arrived too slowly.');
  };
  timer = setTimeout(check, graceMs).unref();
  reply.raw.once('close', () => clearTimeout(timer));
}

/**
 * `408 request_timeout` problem+json written on the socket, unless an answer has begun there
 * (then there is nothing left to say), and the connection closed: the rest of the request is
 * never read. Written by hand, as Node's own timeout answer is: the request may have no reply
 * object (headers that never ended), and no hook runs for it.
 */
function answerTimeout(
  socket: TrackedSocket,
  requestId: string | undefined,
  detail: string,
  parserError?: string,
): void {
  if (socket.destroyed) return;
  const id = requestId ?? randomUUID();
  if (parserError) {
    const fields = { request_id: id, parser_error: parserError, status: 408, reason: detail };
    logger.warn(fields, 'Request refused by the HTTP parser; connection closed');
  } else {
    logger.log({ request_id: id, reason: detail }, 'Request timed out; connection closed');
  }
  const inFlight = socket._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    writeProblemOnSocket(socket, toProblem(new AppError('request_timeout', detail)), id);
    // What its request's metrics read (the answer was written here, not through it).
    if (inFlight) inFlight.statusCode = 408;
  }
  socket.destroy();
}
