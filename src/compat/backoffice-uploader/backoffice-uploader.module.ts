import { Module } from '@nestjs/common';
import { IdempotencyModule } from '../../idempotency/idempotency.module';
import { ImagesModule } from '../../images/images.module';
import { BackofficeUploaderController } from './backoffice-uploader.controller';
import { BackofficeUploaderService } from './backoffice-uploader.service';

/** Compatibility with the back-office uploader's `POST /image`. */
@Module({
  imports: [ImagesModule, IdempotencyModule],
  controllers: [BackofficeUploaderController],
  providers: [BackofficeUploaderService],
})
export class BackofficeUploaderModule {}
