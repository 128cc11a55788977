import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import { AppError } from '../errors/app.error';
import { toProblem, type Problem } from '../errors/problem-details';
import { refusalWaits, writeProblemOnSocket, type HttpSocket } from './socket-problem';

const logger = new Logger('HTTP');

/** Why Node's HTTP parser refused a request: a metric's label, from a fixed set. */
export type RefusalReason = 'malformed' | 'headers_too_large' | 'timeout';

/**
 * The parser's errors that say the client left, not that it sent anything wrong: it reset the
 * connection (browsers reset idle keep-alive connections all the time), or closed its side before
 * its request was complete (a mobile client dropping, mid-headers).
 */
const CLIENT_LEFT: ReadonlySet<string | undefined> = new Set([
  'ECONNRESET',
  'HPE_INVALID_EOF_STATE',
]);

/**
 * The reason for a 'clientError', or undefined when no request was refused before a route saw
 * it: a client that left (CLIENT_LEFT), or a request already under way, whose client left
 * mid-body (its own log line says so). One pipelined behind a request all in (its answer still
 * going out) is refused as any other.
 */
export function refusalReason(
  error: { code?: string },
  socket?: Socket,
): RefusalReason | undefined {
  const underWay = socket && (socket as HttpSocket)._httpMessage?.req;
  if (underWay && !underWay.complete) return undefined;
  if (CLIENT_LEFT.has(error.code)) return undefined;
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'timeout';
    case 'HPE_HEADER_OVERFLOW':
      return 'headers_too_large';
    default:
      return 'malformed';
  }
}

/** What a request Node's HTTP parser refused means to its client. */
export function clientErrorProblem(error: { code?: string }): Problem {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return toProblem(new AppError('request_timeout', 'The request did not arrive in time.'));
    case 'HPE_HEADER_OVERFLOW':
      // The request line counts too: a URL of 100 KB is answered so.
      return toProblem(
        new AppError(
          'headers_too_large',
          'The request line and headers are larger than the server accepts.',
        ),
      );
    default:
      // Malformed HTTP, or a client that half-closed its connection in the middle of its body.
      return toProblem(
        new AppError(
          'bad_request',
          'The request is not valid HTTP or ended before it was complete.',
        ),
      );
  }
}

/**
 * Fastify's `clientErrorHandler`, for the errors of Node's HTTP parser (its 'clientError'), which
 * Fastify otherwise answers as plain JSON, the one answer of the API that would not be
 * problem+json. Written on the socket, when it still takes writes and no answer has begun on it,
 * and the connection closed: what follows on it cannot be read as HTTP. Slow clients' timeouts
 * are answered before (request-timeouts.ts), which closes the socket: then nothing is left to do.
 * A malformed request pipelined behind one that is complete is refused once that one, and any
 * after it, are answered (refusalWaits).
 */
export function answerClientError(error: { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (refusalWaits(socket, () => answerClientError(error, socket))) return;
  const inFlight = (socket as HttpSocket)._httpMessage;
  const id = inFlight?.req?.id ?? randomUUID();
  const problem = clientErrorProblem(error);
  // No route and no hook saw such a request: this is its only log line (as a 4xx request's, a
  // warning). The parser's code (HPE_…) says what was wrong; nothing of the bytes is logged. A
  // request already under way (its client left mid-body) has its own line.
  const fields = { request_id: id, parser_error: error.code, status: problem.status };
  if (refusalReason(error, socket)) {
    logger.warn(fields, 'Request refused by the HTTP parser; connection closed');
  } else if (!inFlight?.req) {
    // Not the client's fault, and no alert's business: a line at info, as a request aborted.
    logger.log(fields, 'Client closed its connection before its request was complete');
  }
  if (socket.writable && !inFlight?.headersSent) writeProblemOnSocket(socket, problem, id);
  socket.destroy();
}
