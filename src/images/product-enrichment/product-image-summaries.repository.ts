import { Injectable } from '@nestjs/common';
import { DataSource, In, type EntityManager } from 'typeorm';
import { Image } from '../entities/image.entity';

/** The image reads behind product responses and product deletion. */
@Injectable()
export class ProductImageSummariesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The primary image of each product that has one. */
  primaryImagesOf(productIds: readonly string[]): Promise<Image[]> {
    return this.dataSource
      .getRepository(Image)
      .findBy({ productId: In([...productIds]), isPrimary: true });
  }

  /** A product's images, in the caller's transaction (the one deleting the product). */
  imagesOf(manager: EntityManager, productId: string): Promise<Image[]> {
    return manager.findBy(Image, { productId });
  }
}
