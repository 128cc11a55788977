import { Module } from '@nestjs/common';
import { PreparedQueriesModule } from '../database/prepared-queries.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { JobsModule } from '../jobs/jobs.module';
import { ProductsModule } from '../products/products.module';
import { ConfiguredStorageModule } from '../storage/storage.module';
import { StandaloneImagesController } from './assets/standalone-images.controller';
import { StandaloneImagesRepository } from './assets/standalone-images.repository';
import { StandaloneImagesService } from './assets/standalone-images.service';
import { StandaloneUploadService } from './assets/standalone-upload.service';
import { UnattachedImageSweeper } from './assets/unattached-image-sweeper';
import { DELIVERY_CONFIG, deliveryConfigProvider } from './delivery/delivery.config';
import { TransformUrls } from './delivery/transform-urls';
import { ResponsiveImages } from './delivery/responsive-images';
import { loadUrlSigner, UrlSigner } from './delivery/url-signer';
import { GalleryAdditionPipe } from './gallery/gallery-addition.pipe';
import { GalleryUploadService } from './gallery/gallery-upload.service';
import { GalleryRepository } from './gallery/gallery.repository';
import { GalleryService } from './gallery/gallery.service';
import { PrimaryImageImportService } from './gallery/primary-image-import.service';
import {
  ProductGalleryByExternalIdController,
  ProductGalleryByGtinController,
  ProductGalleryController,
} from './gallery/product-gallery.controller';
import {
  ProductImageImportByExternalIdController,
  ProductImageImportByGtinController,
  ProductImageImportController,
} from './gallery/product-image-import.controller';
import { ImageFilesService } from './image-files.service';
import { ImageKeysRepository } from './image-keys.repository';
import { ImagePresenter } from './image-presenter';
import { ImageUploadersRepository } from './image-uploaders.repository';
import { IMAGES_CONFIG, imagesConfigProvider } from './images.config';
import { ImagesService } from './images.service';
import { ImageUploadPipe, StandaloneUploadPipe } from './intake/image-upload.pipe';
import { ImageImportService } from './intake/import/image-import.service';
import { UploadSpoolSweeper } from './intake/upload-spool-sweeper';
import { ReplayedUrlsService } from './replayed-urls.service';
import { OrphanFileSweeper } from './orphan-file-sweeper';
import { ImageProcessor } from './processing/image-processor';

/**
 * Images: what comes in, how it is checked and stored, and where it belongs.
 *
 * - `images.service.ts`: ImagesService, the one entry point for images coming in (the routes and
 *   the compatible APIs), a facade over the flows below;
 * - `gallery/`: a product's gallery, its rules (one primary, priority order, If-Match versions)
 *   and routes: GalleryService and its repository, the gallery upload, the Ocha API's import of
 *   the primary image, the gallery's controller and the import's;
 * - `assets/`: stand-alone images (in no gallery): their upload, routes, repository and the sweep
 *   of those past their expiry;
 * - `intake/`: how bytes arrive: multipart uploads spooled to disk per request, and `import/`
 *   for JSON (data URIs, and URLs fetched safely against request forgery);
 * - `delivery/`: images at any size and format on request (transform URLs): their options,
 *   signatures and plan, the results made once and kept in storage, the route;
 * - `processing/`: type detection and checks, the one codec file wrapping sharp, BMP and SVG, the
 *   rendition presets;
 * - here: ImageFilesService (every question to the storage provider: writing an image's files,
 *   their keys and URLs), the sweep of stored files no row names (OrphanFileSweeper), the
 *   presenter, the storage URLs of replayed idempotent answers made anew (ReplayedUrlsService),
 *   DTOs, the entity, the config slice.
 *
 * Naming: a service's `get…` returns the API's DTO, its `find…` the entity (404 when missing); a
 * repository's `find…` returns the entity or null. SQL lives in the `*.repository.ts` files.
 */
@Module({
  imports: [
    ProductsModule,
    ConfiguredStorageModule,
    JobsModule,
    IdempotencyModule,
    PreparedQueriesModule,
  ],
  controllers: [
    ProductGalleryController,
    ProductGalleryByGtinController,
    ProductGalleryByExternalIdController,
    ProductImageImportController,
    ProductImageImportByGtinController,
    ProductImageImportByExternalIdController,
    StandaloneImagesController,
  ],
  providers: [
    imagesConfigProvider,
    ImagesService,
    ImageFilesService,
    ImageKeysRepository,
    ImagePresenter,
    ImageUploadersRepository,
    ImageProcessor,
    GalleryService,
    GalleryRepository,
    GalleryUploadService,
    PrimaryImageImportService,
    GalleryAdditionPipe,
    StandaloneImagesService,
    StandaloneImagesRepository,
    StandaloneUploadService,
    UnattachedImageSweeper,
    ImageUploadPipe,
    StandaloneUploadPipe,
    ImageImportService,
    UploadSpoolSweeper,
    OrphanFileSweeper,
    ReplayedUrlsService,
    deliveryConfigProvider,
    { provide: UrlSigner, useFactory: loadUrlSigner, inject: [DELIVERY_CONFIG] },
    TransformUrls,
    ResponsiveImages,
  ],
  // The compatible APIs (src/compat/) translate onto ImagesService and read uploads with the same
  // settings; ImageFilesService answers the storage questions of images for product enrichment;
  // re-making renditions (renditions/) and delivery (delivery/) share the processor and its limits
  // with uploads; delivery checks URLs with the signer that signs the ones images' responses carry.
  exports: [
    ImagesService,
    ImageFilesService,
    ImageProcessor,
    IMAGES_CONFIG,
    DELIVERY_CONFIG,
    UrlSigner,
  ],
})
export class ImagesModule {}
