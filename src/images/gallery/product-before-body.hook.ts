import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { RequestContext, type Principal } from '../../auth/principal';
import { expectsContinue } from '../../common/http/host-and-expect';
import { isMediaType } from '../../common/http/media-type';
import { IDEMPOTENCY_KEY_HEADER } from '../../idempotency/idempotency.service';
import { productRefOf } from '../../products/product-param.decorator';
import type { ProductsService } from '../../products/products.service';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's product is looked up before its body is invited (see PRODUCT_BEFORE_BODY). */
    productBeforeBody?: boolean;
  }
}

/**
 * Route config of an upload to a product's gallery: an upload expecting `100-continue` to a
 * product the caller's organisation does not have is answered 404 product_not_found before
 * `100 Continue`, so its client sends no body. It was invited, and its whole body read to the
 * spool, to be answered 404 once in. Only a first look, as the busy processor's: a product
 * deleted meanwhile is still 404 once the body is in. Without the expectation the body is on its
 * way, and is read first, as before (closing on it unread would give the client a reset); so is
 * one with an Idempotency-Key, whose retry is answered as its first attempt was (a 201 for a
 * product deleted since), matched by its body's digest.
 */
export const PRODUCT_BEFORE_BODY = { productBeforeBody: true } as const;

/**
 * Adds the look-up to the routes marked {@link PRODUCT_BEFORE_BODY} (a route's hook: after the
 * global preParsing hooks, the pre-body authentication's first, which sets the caller). Call
 * before the application is initialised (Nest registers its routes then).
 */
export function lookUpProductsBeforeBody(
  fastify: FastifyInstance,
  products: ProductsService,
): void {
  const lookUp = async (request: FastifyRequest): Promise<void> => {
    if (!expectsContinue(request)) return;
    if (!isMediaType(request.headers['content-type'], 'multipart/form-data')) return;
    // A retry is answered as its first attempt was, which its body's digest names: read it.
    if (request.headers[IDEMPOTENCY_KEY_HEADER] !== undefined) return;
    const user = (request as FastifyRequest & { user?: Principal }).user;
    if (user) await products.find(new RequestContext(user), productRefOf(request));
  };
  fastify.addHook('onRoute', (route: RouteOptions) => {
    if (route.config?.productBeforeBody !== true) return;
    route.preParsing = [route.preParsing ?? []].flat().concat(lookUp);
  });
}
