import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { readsPathOnly } from '../common/http/path-checks';
import { parseId } from '../common/ids/parse-id.pipe';
import type { ProductRef } from './products.service';

/**
 * The product a route names: `:productId` (id or UUID), `:gtin` (any of the four lengths) or
 * `:externalId` (the caller's own id, exactly). GTINs and external ids are checked where they are
 * resolved (ProductsService), so that every caller of the service gets the same answer. The id's
 * check reads the path alone: it is made before a JSON body is invited (Expect: 100-continue).
 */
export const ProductParam = createParamDecorator(
  readsPathOnly((_: unknown, context: ExecutionContext): ProductRef =>
    productRefOf(context.switchToHttp().getRequest<FastifyRequest>()),
  ),
);

/** The product a request's path names, as {@link ProductParam} gives it to the route. */
export function productRefOf(request: FastifyRequest): ProductRef {
  const params = request.params as Record<string, string>;
  if (params.gtin !== undefined) return { gtin: params.gtin };
  if (params.externalId !== undefined) return { externalId: params.externalId };
  return { id: parseId(params.productId, 'productId') };
}
