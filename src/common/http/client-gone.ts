import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors/app.error';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Aborted once the client has gone before its answer was sent (see whileAnswered): set for
     * the routes reading their body as it streams in (`@MultipartRequest`), so that the work an
     * upload sets off (an SVG's check and render) is ended with it.
     */
    clientGone?: AbortSignal;
  }
}

/**
 * Refuses a multipart request whose client left before its body could be read (during
 * authentication, say): @fastify/multipart ends its parts on the request's 'close' event, which
 * has already happened, so `request.parts()` and `request.file()` would never settle and the
 * request would be held for good. Call it just before either. There is no one to answer; the
 * code is what the request is logged and counted with.
 */
export function refuseIfClientGone(request: FastifyRequest): void {
  if (request.raw.destroyed && !request.raw.readableEnded) {
    throw new AppError(
      'invalid_multipart',
      'The connection closed before the multipart body was received.',
    );
  }
}

/**
 * Aborted (with an AppError, what the request is logged with: there is no one to answer) once
 * the client has gone: its connection closed before the answer was sent. The response's 'close'
 * tells, not the request's: a request with a body emits 'close' once its body has been read, the
 * client still there. Already gone (while the request was routed or authenticated): aborted at
 * once. Its listener is on the response, which ends with the request: none is left on a
 * connection kept alive for the next one.
 */
export function whileAnswered(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const gone = new AbortController();
  const leave = (): void =>
    gone.abort(
      new AppError('invalid_multipart', 'The connection closed before the upload was answered.'),
    );
  if (request.raw.socket?.destroyed) leave();
  else
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) leave();
    });
  return gone.signal;
}
