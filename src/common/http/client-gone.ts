import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors/app.error';

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
