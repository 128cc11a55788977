import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { User } from '../auth/entities/user.entity';
import { ProductsModule } from '../products/products.module';
import { ConfiguredStorageModule } from '../storage/storage.module';
import { Image } from './entities/image.entity';
import { IMAGES_CONFIG, imagesConfigProvider } from './images.config';
import { ImageProcessor } from './processing/image-processor';
import { GalleryAdditionPipe } from './gallery/gallery-addition.pipe';
import { ImageUploadPipe, StandaloneUploadPipe } from './intake/image-upload.pipe';
import { StandaloneImagesController } from './assets/standalone-images.controller';
import { ImageImportService } from './intake/import/image-import.service';
import { UnattachedImageSweeper } from './assets/unattached-image-sweeper';
import { ImagesService } from './images.service';
import { UploadSpoolSweeper } from './intake/upload-spool-sweeper';
import { GalleryService } from './gallery/gallery.service';
import { ImagePresenter } from './image-presenter';
import { StandaloneImagesService } from './assets/standalone-images.service';
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

@Module({
  imports: [TypeOrmModule.forFeature([Image, User]), ProductsModule, ConfiguredStorageModule],
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
    ImageProcessor,
    ImagesService,
    StandaloneImagesService,
    GalleryService,
    ImagePresenter,
    ImageUploadPipe,
    StandaloneUploadPipe,
    GalleryAdditionPipe,
    ImageImportService,
    UnattachedImageSweeper,
    UploadSpoolSweeper,
  ],
  // The compatible APIs (src/compat/) translate onto these.
  exports: [ImagesService, IMAGES_CONFIG],
})
export class ImagesModule {}
