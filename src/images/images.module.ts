import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { User } from '../auth/entities/user.entity';
import { ProductsModule } from '../products/products.module';
import { Image } from './entities/image.entity';
import { ImageProcessor } from './image-processor';
import { ImageUploadPipe } from './image-upload.pipe';
import { ImagesService } from './images.service';
import { UploadSpoolSweeper } from './upload-spool-sweeper';
import { GalleryService } from './gallery.service';
import { ImagePresenter } from './image-presenter';
import {
  ProductImagesByGtinController,
  ProductImagesController,
} from './product-images.controller';

@Module({
  imports: [TypeOrmModule.forFeature([Image, User]), ProductsModule],
  controllers: [ProductImagesController, ProductImagesByGtinController],
  providers: [
    ImageProcessor,
    ImagesService,
    GalleryService,
    ImagePresenter,
    ImageUploadPipe,
    UploadSpoolSweeper,
  ],
})
export class ImagesModule {}
