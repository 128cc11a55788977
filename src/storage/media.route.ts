import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { multipartNotTaken } from '../common/http/multipart-routes';
import { requestTarget } from '../common/http/request-target';
import { DeletedKeys } from './deleted-keys.service';
import { answerMediaRequest } from './media-delivery';
import type { MediaAnswer } from './media-answer';
import { sendMediaAnswer } from './media-reply';
import { LocalStorageProvider } from './providers/local.storage-provider';
import {
  IMMUTABLE_CACHE_CONTROL,
  STORAGE_PROVIDER,
  type StorageProvider,
} from './storage-provider';
import { isServableKey } from './storage-keys';

/** The route's pattern (Fastify's wildcard): also its label in the metrics and the logs. */
export const MEDIA_ROUTE = '/media/*';

const NOT_FOUND: MediaAnswer = { kind: 'not_found' };
const MEDIA_NOT_FOUND = { code: 'media_not_found', detail: 'No such file.' } as const;

/**
 * Serves locally stored images at /media/<key> through @fastify/send (media-delivery.ts): exact
 * Content-Type, strong ETag and Last-Modified, conditional GET, byte ranges, and the same delivery
 * headers other providers store with the object. Only keys of the shapes the service writes, with
 * an image's extension, are looked up: anything else is 404, even when such a file lies in the
 * storage folder; so is a key whose deletion is queued (DeletedKeys: its image deleted, whatever
 * the storage still holds). Other providers serve their objects themselves: here everything is 404.
 *
 * A Fastify route rather than a Nest controller: it is public, takes no body, and is the service's
 * most frequent request, which Nest's layer (the global guard, interceptors and pipes, and their
 * observables) made cost a tenth more. Every Fastify hook still runs for it (request id, security
 * headers, logging, metrics, tracing, the expiry bound of media-expiry.hooks.ts), and a thrown
 * AppError goes to the application's error handler (problem+json) as a controller's does. It is
 * left out of the OpenAPI document, as the controller was.
 */
@Injectable()
export class MediaRoute implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
    private readonly deleted: DeletedKeys,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify) return; // A module without HTTP (a test's).
    // The folder, read once: the provider is wrapped (deadline, metrics) in proxies.
    const local = this.storage instanceof LocalStorageProvider ? this.storage : undefined;
    const deleted = this.deleted;
    fastify.get(MEDIA_ROUTE, (request, reply) => serveMedia(local, deleted, request, reply));
  }
}

async function serveMedia(
  local: LocalStorageProvider | undefined,
  deleted: DeletedKeys,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  // As the global interceptor answers a multipart request to any route that takes none.
  if (request.isMultipart()) throw multipartNotTaken();
  const key = (request.params as Record<string, string>)['*'];
  const root = local?.root;
  const { path, query } = requestTarget(request.url);
  // A servable key's characters need no encoding: the path spells it plainly, or is redirected.
  if (local && path !== `/media/${key}` && isServableKey(key)) {
    const location = (await local.url(key)) + query;
    // Permanent, as the file: a CDN keeps the redirect rather than another copy of the file.
    await reply.header('Cache-Control', IMMUTABLE_CACHE_CONTROL).redirect(location, 308);
    return;
  }
  const answer =
    root !== undefined && isServableKey(key) && !(await deleted.isDeleted(key))
      ? await answerMediaRequest(root, key, request.raw)
      : NOT_FOUND;
  await sendMediaAnswer(reply, answer, MEDIA_NOT_FOUND);
}
