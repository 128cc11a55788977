import type { FastifyReply, FastifyRequest } from 'fastify';
import { append as appendVary } from 'vary';
import { AppError } from '../../common/errors/app.error';
import { requestTarget } from '../../common/http/request-target';
import { untilExpiry } from '../../common/http/until-expiry';
import { sendMediaAnswer } from '../../storage/media-reply';
import { IMMUTABLE_CACHE_CONTROL } from '../../storage/storage-provider';
import type { DeliveryService } from './delivery.service';

/** How long a redirect to storage that makes results itself may be cached. */
const REDIRECT_CACHE_CONTROL = 'public, max-age=3600';

/**
 * A result asked for by preset name (`p_card`): a day, then asked again (a 304 to If-None-Match
 * while unchanged; it has no Last-Modified, see DeliveryService), not a year as immutable, since
 * an operator's change of IMAGE_RENDITIONS changes what the same URL makes. Every other result's
 * URL names its whole transformation.
 */
const PRESET_CACHE_CONTROL = 'public, max-age=86400';

/** A transform URL's path parameters, as the controller's route names them. */
export interface TransformParams {
  signature: string;
  transformation: string;
  id: string;
}

/**
 * Answers a transform URL (DeliveryService) on the reply: the result, or a redirect to the storage
 * that makes results itself, with the caching its URL allows.
 */
export async function replyTransform(
  delivery: DeliveryService,
  { signature, transformation: options, id: imageId }: TransformParams,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const { path, query } = requestTarget(request.url);
  // Fastify matches an empty segment as an empty parameter: such a path is no transform URL (as
  // one with a trailing slash is not), rather than a malformed option or signature.
  if (signature === '' || options === '' || imageId === '') {
    throw new AppError('route_not_found', `No route matches ${request.method} ${path}.`);
  }
  const canonical = delivery.canonicalUrl(path, { signature, options, imageId });
  if (canonical !== undefined) {
    const location = canonical + query;
    // Permanent (308, the method kept), since spellings never change: a CDN keeps the redirect
    // rather than another copy.
    await reply.header('Cache-Control', IMMUTABLE_CACHE_CONTROL).redirect(location, 308);
    return;
  }
  const media = { method: request.method, headers: request.headers };
  const accept = request.headers.accept;
  const signal = whileConnected(request, reply);
  const result = await delivery.answer({ signature, options, imageId, accept, media, signal });
  // Added to what is there: with CORS_ORIGINS, the CORS hook has already said `Vary: Origin`.
  if (result.varies)
    reply.header('Vary', appendVary(String(reply.getHeader('Vary') ?? ''), 'Accept'));
  if (result.kind === 'redirect') {
    const cacheControl = untilExpiry(REDIRECT_CACHE_CONTROL, result.expiresAt);
    await reply.header('Cache-Control', cacheControl).redirect(result.url, 302);
    return;
  }
  let answer = result.answer;
  if (answer.kind === 'file' && (result.byPreset || result.expiresAt)) {
    const policy = result.byPreset
      ? PRESET_CACHE_CONTROL
      : String(answer.headers['Cache-Control'] ?? '');
    const cacheControl = untilExpiry(policy, result.expiresAt);
    answer = { ...answer, headers: { ...answer.headers, 'Cache-Control': cacheControl } };
  }
  await sendMediaAnswer(reply, answer, { code: 'image_not_found', detail: 'No such image.' });
}

/**
 * Aborted once the client has gone: its connection closed before the answer was sent. What the
 * services are told of the request's end (a result's making, which every request for it may have
 * left, is then dropped: TransformResults), without their knowing of HTTP. A request without a
 * body: its 'close' comes when the connection closes, or once its answer is sent (then too late
 * to matter). Already closed (a client gone while the request was routed), aborted at once.
 */
function whileConnected(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const gone = new AbortController();
  const raw = request.raw;
  if (raw.socket?.destroyed) gone.abort();
  else
    raw.once('close', () => {
      if (!reply.raw.writableFinished) gone.abort();
    });
  return gone.signal;
}
