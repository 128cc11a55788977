import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/** What a product response embeds of its primary image. */
export interface ProductImageSummary {
  id: string;
  url: string;
  alt_text: string;
  width: number;
  height: number;
  /** Rendition name → URL. */
  renditions: Record<string, string>;
}

/** A product's images as its responses show them. */
export interface ProductImagesOf {
  primary: ProductImageSummary | null;
  count: number;
}

/** A product as the port is asked about it: its id and the image count products/ keeps. */
export interface ProductWithImageCount {
  id: string;
  imageCount: number;
}

/** What products/ asks of whoever keeps a product's images. */
export interface ProductImages {
  /**
   * For a page of products: each one's primary image (one query for the page) and its image
   * count, the count products/ keeps (never counted per request), both as of one moment. A
   * product deleted since the caller read it is not in the map.
   */
  of(products: readonly ProductWithImageCount[]): Promise<Map<string, ProductImagesOf>>;

  /**
   * Runs in the product-deletion transaction, before the product's row goes: queues the files of
   * its images for deletion, atomically with the row. Returns what to do once committed.
   */
  releaseOnDelete(
    manager: EntityManager,
    product: { id: string; organizationId: string },
  ): Promise<() => Promise<void>>;
}

/**
 * The port through which products reach their images, without products/ importing images/.
 *
 * A registry rather than an injected interface: ImagesModule imports ProductsModule (galleries lock
 * and version products), so ProductsModule cannot import an images-side provider without a module
 * cycle. Instead images' implementation registers itself here when its module starts
 * (src/images/product-enrichment/), and products call it through this class. Until then (a test
 * that boots only products) a product has no primary image and its kept count; in the
 * application an implementation is always registered.
 */
@Injectable()
export class ProductImagesPort implements ProductImages {
  private images?: ProductImages;

  /** Called once, by the module that keeps images. */
  register(images: ProductImages): void {
    if (this.images && this.images !== images) {
      throw new Error('ProductImagesPort: an implementation is already registered');
    }
    this.images = images;
  }

  async of(products: readonly ProductWithImageCount[]): Promise<Map<string, ProductImagesOf>> {
    if (products.length === 0) return new Map();
    if (this.images) return this.images.of(products);
    return new Map(products.map((p) => [p.id, { primary: null, count: p.imageCount }]));
  }

  async releaseOnDelete(
    manager: EntityManager,
    product: { id: string; organizationId: string },
  ): Promise<() => Promise<void>> {
    return this.images ? this.images.releaseOnDelete(manager, product) : async () => {};
  }
}
