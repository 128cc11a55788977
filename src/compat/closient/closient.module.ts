import { Module } from '@nestjs/common';
import { IdempotencyModule } from '../../idempotency/idempotency.module';
import { ImagesModule } from '../../images/images.module';
import { ClosientUploadPipe } from './closient-upload.pipe';
import { ClosientController } from './closient.controller';
import { ClosientService } from './closient.service';

/** Compatibility with Closient's trade-item images. */
@Module({
  imports: [ImagesModule, IdempotencyModule],
  controllers: [ClosientController],
  providers: [ClosientService, ClosientUploadPipe],
})
export class ClosientModule {}
