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

  /** Product id → number of images, for the products that have any. */
  async imageCountsOf(productIds: readonly string[]): Promise<Map<string, number>> {
    const counts: { product_id: string; n: number }[] = await this.dataSource
      .getRepository(Image)
      .createQueryBuilder('i')
      .select('i.product_id', 'product_id')
      .addSelect('count(*)::int', 'n')
      .where('i.product_id IN (:...ids)', { ids: productIds })
      .groupBy('i.product_id')
      .getRawMany();
    return new Map(counts.map((c) => [c.product_id, c.n]));
  }

  /** A product's images, in the caller's transaction (the one deleting the product). */
  imagesOf(manager: EntityManager, productId: string): Promise<Image[]> {
    return manager.findBy(Image, { productId });
  }
}
