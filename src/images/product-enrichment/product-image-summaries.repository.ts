import { Injectable } from '@nestjs/common';
import { DataSource, In, type EntityManager } from 'typeorm';
import { Product } from '../../products/entities/product.entity';
import { Image } from '../entities/image.entity';

/** A product found, its kept image count and its primary image, as of one statement. */
export interface ProductPrimaryImage {
  productId: string;
  image: Image | null;
  imageCount: number;
}

/** The image reads behind product responses and product deletion. */
@Injectable()
export class ProductImageSummariesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Each product still there, with its kept image count and its primary image (null when it has
   * none), read in one statement from the products' rows: read apart, a gallery change committed
   * in between gave a product response an image count of 0 with a primary image, or 1 with none,
   * and a product deleted in between was shown with neither. A product no longer found is left
   * out. A product with no primary has no image, as of the same statement (a gallery with images
   * has exactly one primary).
   */
  async primaryImagesOf(productIds: readonly string[]): Promise<ProductPrimaryImage[]> {
    if (productIds.length === 0) return [];
    const products = await this.dataSource
      .getRepository(Product)
      .createQueryBuilder('p')
      .select(['p.id', 'p.imageCount'])
      .leftJoinAndMapOne('p.primary', Image, 'i', 'i.product_id = p.id AND i.is_primary')
      .where({ id: In([...productIds]) })
      .getMany();
    return (products as (Product & { primary?: Image | null })[]).map((product) => ({
      productId: product.id,
      image: product.primary ?? null,
      imageCount: product.imageCount,
    }));
  }

  /** A product's images, in the caller's transaction (the one deleting the product). */
  imagesOf(manager: EntityManager, productId: string): Promise<Image[]> {
    return manager.findBy(Image, { productId });
  }
}
