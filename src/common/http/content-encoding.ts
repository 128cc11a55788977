import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors/app.error';

/**
 * A body's framing: `Transfer-Encoding` may be `chunked` and nothing else. Node's parser requires
 * chunked last and unframes it, but takes any codings before it (`gzip, chunked`) without
 * applying them: the body was read as if they were not there, where a proxy before the service
 * may have decoded it, or framed it otherwise. Such a request is refused unread with 501
 * unsupported_transfer_coding, as RFC 9112 (6.1) asks of a server that does not implement a
 * coding, and its connection closed.
 *
 * Request bodies are read as sent: the service decodes no `Content-Encoding`. A body sent with
 * one (`gzip`, `br`, anything but `identity`) was read as if it were not encoded: gzip bytes
 * parsed as JSON, or spooled as an image. It is refused instead, unread, with 415
 * unsupported_media_type, as RFC 9110 (8.4.1) allows. Decoding was not chosen: a compressed body
 * is a compression bomb waiting behind every limit counted in received bytes. A route whose config
 * has {@link DECODES_ITS_BODY} decodes its body itself, within limits counted on the decoded
 * bytes (the bulk import's gzip), and is left to refuse what it does not decode.
 */
export function refuseEncodedBodies(fastify: FastifyInstance): void {
  fastify.addHook('preParsing', (request, _reply, payload, done) => {
    if (readsBody(request) && isTransferCoded(request.headers['transfer-encoding'])) {
      const refusal = new AppError(
        'unsupported_transfer_coding',
        'The body has a Transfer-Encoding other than chunked: send it chunked alone, or with ' +
          'a Content-Length.',
        [],
        { Connection: 'close' },
      );
      return done(refusal, payload);
    }
    if (
      readsBody(request) &&
      isEncoded(request.headers['content-encoding']) &&
      !decodesItsBody(request)
    ) {
      const refusal = new AppError(
        'unsupported_media_type',
        'The body has a Content-Encoding: send it as it is, not compressed or otherwise encoded.',
      );
      return done(refusal, payload);
    }
    done(null, payload);
  });
}

/** The route config of a route that decodes its body's Content-Encoding itself. */
export const DECODES_ITS_BODY = { decodesItsBody: true } as const;

function decodesItsBody(request: FastifyRequest): boolean {
  const config = request.routeOptions.config as { decodesItsBody?: boolean } | undefined;
  return config?.decodesItsBody === true;
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

/** A Transfer-Encoding other than `chunked` alone (any case): one the service does not implement. */
function isTransferCoded(header: string | undefined): boolean {
  return header !== undefined && header.trim().toLowerCase() !== 'chunked';
}
