import { Injectable } from '@nestjs/common';
import { DataSource, In, type EntityManager } from 'typeorm';
import { Image } from '../entities/image.entity';

/** The image reads behind product responses and product deletion. */
@Injectable()
export class ProductImageSummariesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * The primary image of each product that has one, with that product's kept image count, read
   * in the same statement: read apart, a gallery change committed in between gave a product
   * response an image count of 0 with a primary image, or 1 with none. A product with no primary
   * has no image, as of the same statement (a gallery with images has exactly one primary).
   */
  async primaryImagesOf(
    productIds: readonly string[],
  ): Promise<{ image: Image; imageCount: number }[]> {
    if (productIds.length === 0) return [];
    const { entities, raw } = await this.dataSource
      .getRepository(Image)
      .createQueryBuilder('i')
      .addSelect('(SELECT p.image_count FROM products p WHERE p.id = i.product_id)', 'image_count')
      .where({ productId: In([...productIds]), isPrimary: true })
      .getRawAndEntities<{ i_id: string; image_count: number }>();
    const counts = new Map(raw.map((row) => [row.i_id, Number(row.image_count)]));
    return entities.map((image) => ({ image, imageCount: counts.get(image.id) ?? 1 }));
  }

  /** A product's images, in the caller's transaction (the one deleting the product). */
  imagesOf(manager: EntityManager, productId: string): Promise<Image[]> {
    return manager.findBy(Image, { productId });
  }
}
