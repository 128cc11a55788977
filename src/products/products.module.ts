import { Module } from '@nestjs/common';
import { PreparedQueriesModule } from '../database/prepared-queries.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import {
  ProductByExternalIdController,
  ProductByGtinController,
  ProductController,
  ProductsController,
} from './products.controller';
import { ProductImagesPort } from './product-images.port';
import { ProductsRepository } from './products.repository';
import { ProductsService } from './products.service';

@Module({
  imports: [PreparedQueriesModule, IdempotencyModule],
  controllers: [
    ProductsController,
    ProductController,
    ProductByGtinController,
    ProductByExternalIdController,
  ],
  providers: [ProductsService, ProductsRepository, ProductImagesPort],
  // ProductImagesPort: where images/ registers what products show of their images.
  exports: [ProductsService, ProductImagesPort],
})
export class ProductsModule {}
