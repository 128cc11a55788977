import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { parseId } from '../common/ids/parse-id.pipe';
import type { ProductRef } from '../products/products.service';

/** The product a route names: `:productId` (id or UUID) or `:gtin` (any of the four lengths). */
export const ProductParam = createParamDecorator(
  (_: unknown, context: ExecutionContext): ProductRef => {
    const params = context.switchToHttp().getRequest<FastifyRequest>().params as Record<
      string,
      string
    >;
    return params.gtin !== undefined
      ? { gtin: params.gtin }
      : { id: parseId(params.productId, 'productId') };
  },
);

/** If-Match as gallery versions: `"3"` or `"3", "4"`; undefined for none or `*`. */
export function parseIfMatch(header: string | undefined): number[] | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  const versions = [...header.matchAll(/(?:^|,)\s*"(\d{1,10})"\s*(?=,|$)/g)].map((m) =>
    Number(m[1]),
  );
  // Anything unparseable (a weak tag, garbage) can never match: If-Match uses strong comparison.
  return versions.length > 0 ? versions : [-1];
}

export function galleryEtag(version: number): string {
  return `"${version}"`;
}
