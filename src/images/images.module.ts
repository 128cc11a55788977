import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { User } from '../auth/entities/user.entity';
import { ProductsModule } from '../products/products.module';
import { Image } from './entities/image.entity';
import { ImageProcessor } from './image-processor';
import { ImageUploadPipe } from './image-upload.pipe';
import { ImagesService } from './images.service';
import { ProductImagesController } from './product-images.controller';

@Module({
  imports: [TypeOrmModule.forFeature([Image, User]), ProductsModule],
  controllers: [ProductImagesController],
  providers: [ImageProcessor, ImagesService, ImageUploadPipe],
})
export class ImagesModule {}
