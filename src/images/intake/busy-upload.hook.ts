import { applyDecorators } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { expectsContinue } from '../../common/http/host-and-expect';
import { isMediaType } from '../../common/http/media-type';
import { MULTIPART_BODY_ONLY } from '../../common/http/multipart-routes';
import { ApiMultipartBodyOnly } from '../../openapi/problems';
import type { ImageProcessor } from '../processing/image-processor';

/** The media types of a body that brings an image to process. */
type ImageBodyType = 'multipart/form-data' | 'application/json';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The body of this type brings an image the route processes (see {@link IMAGE_IN_MULTIPART}). */
    imageBodyType?: ImageBodyType;
  }
}

/**
 * Route config (`@RouteConfig(IMAGE_IN_MULTIPART)`) of a route that processes the image its
 * multipart body brings: the uploads of the API and of the compatible APIs. A JSON body on the
 * same route (the gallery's attach of a stand-alone upload) processes nothing.
 */
export const IMAGE_IN_MULTIPART = { imageBodyType: 'multipart/form-data' } as const;

/**
 * `@ImageInMultipartOnly()` on an upload route that takes no other body: its route config is
 * {@link IMAGE_IN_MULTIPART} and MULTIPART_BODY_ONLY (any other body refused 415 unread), with
 * the route's own `config` besides, and its operation in the OpenAPI document lists none of the
 * JSON parser's refusals, which it never answers (ApiMultipartBodyOnly): one decorator, so that
 * the document cannot say otherwise than the route does.
 */
export function ImageInMultipartOnly(config: object = {}): MethodDecorator {
  return applyDecorators(
    RouteConfig({ ...config, ...IMAGE_IN_MULTIPART, ...MULTIPART_BODY_ONLY }),
    ApiMultipartBodyOnly(),
  );
}

/** Route config of a route whose JSON body brings an image to process (a data URI, a URL). */
export const IMAGE_IN_JSON = { imageBodyType: 'application/json' } as const;

/**
 * A saturated processor refuses an upload with `Expect: 100-continue` from its headers: 503
 * server_busy with Retry-After before `100 Continue` (common/http/host-and-expect.ts), so the
 * client sends no body. Without the expectation the body is on its way, and is read to the spool
 * before the refusal, as before: closing on it unread would give the client a reset, not the 503.
 *
 * A global preParsing hook, added right after the pre-body authentication's (an unauthenticated
 * request stays 401) and before any stage that pipes the body (the Idempotency-Key's digest, the
 * data URI's decoder), so that nothing has asked for the body when it refuses. Only a first look,
 * as {@link ImageProcessor.refuseIfBusy} says: an upload admitted here may still be refused once
 * its body is in, as one without the expectation is.
 */
export function refuseBusyUploadsBeforeBody(
  fastify: FastifyInstance,
  processor: ImageProcessor,
): void {
  fastify.addHook('preParsing', (request, _reply, payload, done) => {
    if (!bringsImage(request) || !expectsContinue(request)) return done(null, payload);
    try {
      processor.refuseIfBusy('process');
    } catch (error) {
      return done(error as Error, payload);
    }
    done(null, payload);
  });
}

function bringsImage(request: FastifyRequest): boolean {
  const type = request.routeOptions.config.imageBodyType;
  return type !== undefined && isMediaType(request.headers['content-type'], type);
}
