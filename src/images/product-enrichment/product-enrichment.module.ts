import { Module } from '@nestjs/common';
import { PreparedQueriesModule } from '../../database/prepared-queries.module';
import { ImagesModule } from '../images.module';
import { ProductsModule } from '../../products/products.module';
import { ConfiguredStorageModule } from '../../storage/storage.module';
import { ProductEnrichmentService } from './product-enrichment.service';
import { ProductImageSummariesRepository } from './product-image-summaries.repository';

/**
 * What products show and do of their images (primary image, the files deleted with
 * the product), implemented here and plugged into products' ProductImagesPort, so that the
 * dependency points from images to products only.
 */
@Module({
  // ImagesModule for ImageFilesService (URLs and keys), storage for the queue of file deletions,
  // PreparedQueries for the primary images of every product list.
  imports: [ProductsModule, ImagesModule, ConfiguredStorageModule, PreparedQueriesModule],
  providers: [ProductEnrichmentService, ProductImageSummariesRepository],
})
export class ProductEnrichmentModule {}
