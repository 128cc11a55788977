import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { encodeShortId } from '../../common/ids/short-id';
import {
  ProductImagesPort,
  type ProductImages,
  type ProductImageSummary,
  type ProductImagesOf,
  type ProductWithImageCount,
} from '../../products/product-images.port';
import { StorageDeletionsService } from '../../storage/storage-deletions.service';
import { ImageFilesService } from '../image-files.service';
import {
  ProductImageSummariesRepository,
  type PrimaryImage,
} from './product-image-summaries.repository';

/**
 * Images' side of products' ProductImagesPort: a product's primary image for its responses (its
 * image count is the one products keep), and its images' files queued for deletion with the
 * product. It registers itself with the port when the module starts, since products cannot import
 * images (see the port).
 */
@Injectable()
export class ProductEnrichmentService implements ProductImages, OnModuleInit {
  constructor(
    private readonly port: ProductImagesPort,
    private readonly images: ProductImageSummariesRepository,
    private readonly files: ImageFilesService,
    private readonly deletions: StorageDeletionsService,
  ) {}

  onModuleInit(): void {
    this.port.register(this);
  }

  /**
   * One query for the whole page, whatever its size or its galleries' sizes: the products' rows
   * with their primaries (one index lookup each) and the counts products keep, so that each
   * product's two agree (see primaryImagesOf); a product with no primary has none, and a product
   * deleted since the caller read it is left out.
   */
  async of(products: readonly ProductWithImageCount[]): Promise<Map<string, ProductImagesOf>> {
    const found = await this.images.primaryImagesOf(products.map((p) => p.id));
    return new Map(
      await Promise.all(
        found.map(
          async ({ productId, image, imageCount }) =>
            [
              productId,
              { primary: image ? await this.summary(image) : null, count: imageCount },
            ] as const,
        ),
      ),
    );
  }

  async releaseOnDelete(
    manager: EntityManager,
    product: { id: string; organizationId: string },
  ): Promise<() => Promise<void>> {
    const images = await this.images.imagesOf(manager, product.id);
    const keys = images.flatMap((image) => this.files.keysOf(image));
    await this.deletions.enqueue(manager, keys, product.organizationId);
    // Before the DELETE answers, as an image's own deletion (StorageDeletionsService.afterRemoval).
    return () => this.deletions.afterRemoval(keys);
  }

  private async summary(image: PrimaryImage): Promise<ProductImageSummary> {
    const urls = await this.files.urls(image);
    return {
      id: encodeShortId(image.id),
      url: urls.original,
      alt_text: image.altText,
      width: image.width,
      height: image.height,
      renditions: urls.renditions,
    };
  }
}
