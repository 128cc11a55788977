import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Injectable,
  Patch,
  Post,
  Query,
  Res,
} from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Ctx, MinRole, RequireScopes } from '../auth/decorators';
import type { RequestContext } from '../auth/principal';
import { Role, Scope } from '../auth/roles';
import { CreatedLocation } from '../common/http/created-location';
import { ProductParam } from './product-param.decorator';
import {
  CreateProductDto,
  ListProductsQueryDto,
  ProductDto,
  ProductPageDto,
  UpdateProductDto,
} from './dto/product.dto';
import { ProductsService, type ProductRef } from './products.service';
import { Idempotent } from '../idempotency/idempotent.decorator';
import { ApiProblems, PROBLEMS } from '../openapi/problems';
import { ApiResponseHeaders } from '../openapi/response-headers';
import { parseIfMatch, versionEtag } from '../common/http/version-etag';

/** A product's ETag is its version after `p` (`"p4"`): never taken for a gallery's `"4"`. */
const ETAG_PREFIX = 'p';

const IF_MATCH = {
  name: 'If-Match',
  required: false,
  description:
    'The product version you last read: its ETag (`"p4"`), the `version` of a body (`4`) or a ' +
    'weak ETag (`W/"p4"`), or a comma-separated list of them, or `*`. 412 product_changed if ' +
    'the product changed since; a value naming no version of it (a gallery’s ETag, `"4"`) never ' +
    'matches.',
  schema: { type: 'string' },
};

/** The product's version as its ETag, on the response `product` is the body of. */
function withEtag(reply: FastifyReply, product: ProductDto): ProductDto {
  reply.header('etag', versionEtag(product.version, ETAG_PREFIX));
  return product;
}

/** What a product body can be refused for, besides its shape. */
const PRODUCT_CONFLICTS = [
  'invalid_gtin',
  'slug_taken',
  'gtin_taken',
  'external_id_taken',
] as const;

@ApiTags('products')
@Controller('products')
export class ProductsController {
  constructor(private readonly products: ProductsService) {}

  @Post()
  @CreatedLocation()
  // Location too: the first extension applied (the lowest decorator) wins over CreatedLocation's.
  @ApiResponseHeaders('Location', 'ETag')
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ProductsWrite)
  @Idempotent()
  @ApiOperation({
    operationId: 'createProduct',
    summary: 'Create a product',
    description:
      'The slug is made from the name when left out; a GTIN is stored as GTIN-14; `external_id` ' +
      'is your own id for the product, by which it can be addressed afterwards.',
  })
  @ApiProblems(...PROBLEMS.jsonBody, ...PRODUCT_CONFLICTS)
  async create(
    @Ctx() ctx: RequestContext,
    @Body() body: CreateProductDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ProductDto> {
    return withEtag(reply, await this.products.create(ctx, body));
  }

  @Get()
  @RequireScopes(Scope.ProductsRead)
  @ApiOperation({
    operationId: 'listProducts',
    summary: 'List products, newest first',
    description: 'Filters (`slug`, `gtin`, `external_id`) match exactly; pages by `cursor`.',
  })
  @ApiProblems(...PROBLEMS.validation, 'invalid_cursor', 'invalid_gtin')
  list(@Ctx() ctx: RequestContext, @Query() query: ListProductsQueryDto): Promise<ProductPageDto> {
    return this.products.list(ctx, query);
  }
}

/**
 * One product, under `products/:productId`, `products/by-gtin/:gtin` and
 * `products/by-external-id/:externalId` (the controllers below). Operation ids are the method
 * names, with `ByGtin` or `ByExternalId` appended for the second and third.
 */
@Injectable() // only so that its constructor's parameter types are emitted for the subclasses
abstract class ProductRoutes {
  constructor(private readonly products: ProductsService) {}

  @Get()
  @ApiResponseHeaders('ETag')
  @RequireScopes(Scope.ProductsRead)
  @ApiOperation({
    summary: 'Get a product, with its ETag',
    description:
      'With its primary image (`primary_image`, and its URL as `image`) and image count. ' +
      '`version` in the body and the `ETag` header name the product as read: send either back ' +
      'as `If-Match` when changing or deleting it.',
  })
  async getProduct(
    @Ctx() ctx: RequestContext,
    @ProductParam() product: ProductRef,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ProductDto> {
    return withEtag(reply, await this.products.get(ctx, product));
  }

  @Patch()
  @ApiResponseHeaders('ETag')
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ProductsWrite)
  @ApiHeader(IF_MATCH)
  @ApiOperation({
    summary: 'Change a product',
    description:
      'Takes the fields of `createProduct`, each optional; `gtin: null` and `external_id: null` ' +
      'clear them. Answers the new ETag.',
  })
  @ApiProblems(...PROBLEMS.jsonBody, ...PRODUCT_CONFLICTS, 'product_changed')
  async updateProduct(
    @Ctx() ctx: RequestContext,
    @ProductParam() product: ProductRef,
    @Body() body: UpdateProductDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ProductDto> {
    const expected = parseIfMatch(ifMatch, ETAG_PREFIX);
    return withEtag(reply, await this.products.update(ctx, product, body, expected));
  }

  @Delete()
  @HttpCode(204)
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ProductsWrite)
  @ApiHeader(IF_MATCH)
  @ApiOperation({
    summary: 'Delete a product, its images and their files',
    description:
      'Files that cannot be deleted at once are retried later. A product with images needs ' +
      '`images:write` too (403 `insufficient_scope`): a key for products only cannot delete ' +
      'a gallery this way.',
  })
  @ApiProblems('product_changed')
  deleteProduct(
    @Ctx() ctx: RequestContext,
    @ProductParam() product: ProductRef,
    @Headers('if-match') ifMatch: string | undefined,
  ): Promise<void> {
    return this.products.remove(ctx, product, parseIfMatch(ifMatch, ETAG_PREFIX));
  }
}

@ApiTags('products')
@Controller('products/:productId')
export class ProductController extends ProductRoutes {}

@ApiTags('products')
@Controller('products/by-gtin/:gtin')
export class ProductByGtinController extends ProductRoutes {}

@ApiTags('products')
@Controller('products/by-external-id/:externalId')
export class ProductByExternalIdController extends ProductRoutes {}
