import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiKey } from '../../auth/entities/api-key.entity';
import { Image } from '../../images/entities/image.entity';
import { IdempotencyModule } from '../../idempotency/idempotency.module';
import { ImagesModule } from '../../images/images.module';
import { ProductsModule } from '../../products/products.module';
import { TokenApiUploadPipe } from './token-api-upload.pipe';
import { TokenApiController } from './token-api.controller';
import { TokenApiService } from './token-api.service';

/** Compatibility with the token API ("Create Product Image"). */
@Module({
  imports: [
    TypeOrmModule.forFeature([Image, ApiKey]),
    ImagesModule,
    ProductsModule,
    IdempotencyModule,
  ],
  controllers: [TokenApiController],
  providers: [TokenApiService, TokenApiUploadPipe],
})
export class TokenApiModule {}
