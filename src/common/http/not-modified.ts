import type { FastifyReply } from 'fastify';
import { noneMatchHolds } from './entity-tags';
import { representationEtag } from './representation-etag';

/**
 * The answer to a GET (or HEAD) of `body`, conditional on If-None-Match (RFC 9110 §13.1.2): the
 * body's {@link representationEtag} in `ETag`, and 304 with no body when If-None-Match names it
 * (weakly, in a list, or `*`: `body` exists), else `body`. The headers a 200 would carry besides
 * (Cache-Control `no-store` on an authenticated read, Vary) are set alike for both by the hooks
 * that set them for any answer.
 */
export function unlessNotModified<T>(
  reply: FastifyReply,
  body: T,
  ifNoneMatch: string | undefined,
): T | undefined {
  const etag = representationEtag(body);
  reply.header('etag', etag);
  if (ifNoneMatch === undefined || !noneMatchHolds(ifNoneMatch, etag)) return body;
  reply.code(304);
  return undefined;
}
