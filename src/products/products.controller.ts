import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Injectable,
  Patch,
  Post,
  Query,
} from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
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
  create(@Ctx() ctx: RequestContext, @Body() body: CreateProductDto): Promise<ProductDto> {
    return this.products.create(ctx, body);
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
  @RequireScopes(Scope.ProductsRead)
  @ApiOperation({
    summary: 'Get a product',
    description:
      'With its primary image (`primary_image`, and its URL as `image`) and image count.',
  })
  getProduct(@Ctx() ctx: RequestContext, @ProductParam() product: ProductRef): Promise<ProductDto> {
    return this.products.get(ctx, product);
  }

  @Patch()
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ProductsWrite)
  @ApiOperation({
    summary: 'Change a product',
    description:
      'Takes the fields of `createProduct`, each optional; `gtin: null` and `external_id: null` ' +
      'clear them.',
  })
  @ApiProblems(...PROBLEMS.jsonBody, ...PRODUCT_CONFLICTS)
  updateProduct(
    @Ctx() ctx: RequestContext,
    @ProductParam() product: ProductRef,
    @Body() body: UpdateProductDto,
  ): Promise<ProductDto> {
    return this.products.update(ctx, product, body);
  }

  @Delete()
  @HttpCode(204)
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ProductsWrite)
  @ApiOperation({
    summary: 'Delete a product, its images and their files',
    description:
      'Files that cannot be deleted at once are retried later. A product with images needs ' +
      '`images:write` too (403 `insufficient_scope`): a key for products only cannot delete ' +
      'a gallery this way.',
  })
  deleteProduct(@Ctx() ctx: RequestContext, @ProductParam() product: ProductRef): Promise<void> {
    return this.products.remove(ctx, product);
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
