import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors/app.error';

/**
 * Request bodies are read as sent: the service decodes no `Content-Encoding`. A body sent with
 * one (`gzip`, `br`, anything but `identity`) was read as if it were not encoded: gzip bytes
 * parsed as JSON, or spooled as an image. It is refused instead, unread, with 415
 * unsupported_media_type, as RFC 9110 (8.4.1) allows. Decoding was not chosen: a compressed body
 * is a compression bomb waiting behind every limit counted in received bytes.
 */
export function refuseEncodedBodies(fastify: FastifyInstance): void {
  fastify.addHook('preParsing', (request, _reply, payload, done) => {
    if (readsBody(request) && isEncoded(request.headers['content-encoding'])) {
      const refusal = new AppError(
        'unsupported_media_type',
        'The body has a Content-Encoding: send it as it is, not compressed or otherwise encoded.',
      );
      return done(refusal, payload);
    }
    done(null, payload);
  });
}

/**
 * Fastify never reads the body of a GET, HEAD or TRACE (its `bodyless` methods), so it is not
 * refused there either: such a request is answered as if it came without one.
 */
const BODYLESS_METHODS = new Set(['GET', 'HEAD', 'TRACE']);

function readsBody(request: FastifyRequest): boolean {
  if (BODYLESS_METHODS.has(request.method)) return false;
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (!!length && length !== '0');
}

/** Anything but no coding at all, or `identity` (the one coding that changes nothing). */
function isEncoded(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .some((coding) => coding !== '' && coding !== 'identity');
}
