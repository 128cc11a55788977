import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { RequestContext } from '../../auth/principal';
import { retryOnLostConnection } from '../../database/lost-connection-retry';
import type { ProductDto } from '../../products/dto/product.dto';
import { ProductsService, type ProductRef } from '../../products/products.service';
import { ImageSource } from '../entities/image.entity';
import { ImageFilesService } from '../image-files.service';
import { ImageImportService } from '../intake/import/image-import.service';
import { newImageRecord } from '../new-image';
import { ImageProcessor } from '../processing/image-processor';
import { galleryChanged, GalleryService, type ExpectedVersions } from './gallery.service';

/** The product as the import left it, and its gallery's version after the import. */
export interface ImportedPrimary {
  product: ProductDto;
  galleryVersion: number;
}

/** The Ocha API: imported images are 500×500, filled around their most interesting part. */
export const IMPORT_FILL = { width: 500, height: 500 };

/**
 * The Ocha API's `PUT …/image`: the product's image from JSON, a data URI or a URL. It is cropped
 * to 500×500 around its most interesting part, becomes the primary image and replaces the image
 * imported before (see GalleryService.replaceImported; where its files go: ImageFilesService).
 */
@Injectable()
export class PrimaryImageImportService {
  constructor(
    private readonly products: ProductsService,
    private readonly processor: ImageProcessor,
    private readonly files: ImageFilesService,
    private readonly gallery: GalleryService,
    private readonly importer: ImageImportService,
  ) {}

  async importPrimary(
    ctx: RequestContext,
    ref: ProductRef,
    source: string,
    expected?: ExpectedVersions,
  ): Promise<ImportedPrimary> {
    // Unknown products, and an If-Match already stale, are refused before anything is fetched
    // (the If-Match is decided again under the product's lock).
    const { id: productId, galleryVersion } = await this.products.find(ctx, ref);
    if (expected && !expected.includes(galleryVersion)) throw galleryChanged(galleryVersion);
    // So is a saturated processor (503 server_busy), before a URL's image is fetched and written
    // to the spool only to be refused.
    this.processor.refuseIfBusy('process');
    return this.importer.withFile(source, async (file) => {
      const processed = await this.processor.process(file.path, {
        ...this.files.processingOptions(),
        fill: IMPORT_FILL,
        declaredType: file.declaredType,
      });
      const id = randomUUID();
      const version = await this.files.withImportedFiles(
        processed,
        { imageId: id, productId, organizationId: ctx.organizationId },
        IMPORT_FILL,
        (storeUnderLock) =>
          this.gallery.replaceImported(
            ctx,
            { id: productId },
            async (product, manager) => ({
              ...newImageRecord(ctx, id, await storeUnderLock(product, manager), file.filename),
              source: ImageSource.Import,
              title: '',
              altText: '',
            }),
            expected,
          ),
      );
      // After the commit: read again after a lost connection rather than answer 503 for a change
      // made (its client would import the image again).
      const product = await retryOnLostConnection(() => this.products.get(ctx, { id: productId }));
      return { product, galleryVersion: version };
    });
  }
}
