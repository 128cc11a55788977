import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Ctx, MinRole, RequireScopes } from '../auth/decorators';
import type { RequestContext } from '../auth/principal';
import { Role, Scope } from '../auth/roles';
import { ParseIdPipe } from '../common/ids/parse-id.pipe';
import {
  CreateProductDto,
  ListProductsQueryDto,
  ProductDto,
  ProductPageDto,
  UpdateProductDto,
} from './dto/product.dto';
import { ProductsService } from './products.service';
import { ApiProblems, PROBLEMS } from '../openapi/problems';

@ApiTags('products')
@Controller('products')
export class ProductsController {
  constructor(private readonly products: ProductsService) {}

  @Post()
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ProductsWrite)
  @ApiOperation({ operationId: 'createProduct', summary: 'Create a product' })
  @ApiProblems(...PROBLEMS.jsonBody, 'invalid_gtin', 'slug_taken', 'gtin_taken')
  create(@Ctx() ctx: RequestContext, @Body() body: CreateProductDto): Promise<ProductDto> {
    return this.products.create(ctx, body);
  }

  @Get()
  @RequireScopes(Scope.ProductsRead)
  @ApiOperation({ operationId: 'listProducts', summary: 'List products, newest first' })
  @ApiProblems(...PROBLEMS.validation, 'invalid_cursor', 'invalid_gtin')
  list(@Ctx() ctx: RequestContext, @Query() query: ListProductsQueryDto): Promise<ProductPageDto> {
    return this.products.list(ctx, query);
  }

  @Get('by-gtin/:gtin')
  @RequireScopes(Scope.ProductsRead)
  @ApiOperation({ operationId: 'getProductByGtin', summary: 'Get a product by GTIN-8/12/13/14' })
  getByGtin(@Ctx() ctx: RequestContext, @Param('gtin') gtin: string): Promise<ProductDto> {
    return this.products.get(ctx, { gtin });
  }

  @Get(':productId')
  @RequireScopes(Scope.ProductsRead)
  @ApiOperation({ operationId: 'getProduct', summary: 'Get a product' })
  get(
    @Ctx() ctx: RequestContext,
    @Param('productId', ParseIdPipe) id: string,
  ): Promise<ProductDto> {
    return this.products.get(ctx, { id });
  }

  @Patch(':productId')
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ProductsWrite)
  @ApiOperation({ operationId: 'updateProduct', summary: 'Change a product' })
  @ApiProblems(...PROBLEMS.jsonBody, 'invalid_gtin', 'slug_taken', 'gtin_taken')
  update(
    @Ctx() ctx: RequestContext,
    @Param('productId', ParseIdPipe) id: string,
    @Body() body: UpdateProductDto,
  ): Promise<ProductDto> {
    return this.products.update(ctx, { id }, body);
  }

  @Delete(':productId')
  @HttpCode(204)
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ProductsWrite)
  @ApiOperation({
    operationId: 'deleteProduct',
    summary: 'Delete a product, its images and their files',
  })
  remove(@Ctx() ctx: RequestContext, @Param('productId', ParseIdPipe) id: string): Promise<void> {
    return this.products.remove(ctx, { id });
  }
}
