import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Image } from '../images/entities/image.entity';
import { Product } from './entities/product.entity';
import {
  ProductByExternalIdController,
  ProductByGtinController,
  ProductController,
  ProductsController,
} from './products.controller';
import { ProductsService } from './products.service';

@Module({
  imports: [TypeOrmModule.forFeature([Product, Image])],
  controllers: [
    ProductsController,
    ProductController,
    ProductByGtinController,
    ProductByExternalIdController,
  ],
  providers: [ProductsService],
  exports: [ProductsService],
})
export class ProductsModule {}
