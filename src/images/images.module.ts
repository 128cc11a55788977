import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { User } from '../auth/entities/user.entity';
import { ProductsModule } from '../products/products.module';
import { ConfiguredStorageModule } from '../storage/storage.module';
import { Image } from './entities/image.entity';
import { ImageProcessor } from './image-processor';
import { GalleryAdditionPipe, ImageUploadPipe, StandaloneUploadPipe } from './image-upload.pipe';
import { ImagesController } from './images.controller';
import { ImageImportService } from './import/image-import.service';
import { UnattachedImageSweeper } from './unattached-image-sweeper';
import { ImagesService } from './images.service';
import { UploadSpoolSweeper } from './upload-spool-sweeper';
import { GalleryService } from './gallery.service';
import { ImagePresenter } from './image-presenter';
import { StandaloneImagesService } from './standalone-images.service';
import {
  ProductImageByExternalIdController,
  ProductImageByGtinController,
  ProductImageController,
  ProductImagesByExternalIdController,
  ProductImagesByGtinController,
  ProductImagesController,
} from './product-images.controller';

@Module({
  imports: [TypeOrmModule.forFeature([Image, User]), ProductsModule, ConfiguredStorageModule],
  controllers: [
    ProductImagesController,
    ProductImagesByGtinController,
    ProductImagesByExternalIdController,
    ProductImageController,
    ProductImageByGtinController,
    ProductImageByExternalIdController,
    ImagesController,
  ],
  providers: [
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
  exports: [ImagesService],
})
export class ImagesModule {}
