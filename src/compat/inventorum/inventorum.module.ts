import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Image } from '../../images/entities/image.entity';
import { IdempotencyModule } from '../../idempotency/idempotency.module';
import { ImagesModule } from '../../images/images.module';
import { InventorumController } from './inventorum.controller';
import { InventorumService } from './inventorum.service';

/** Compatibility with Inventorum's stand-alone `POST /images`. */
@Module({
  imports: [TypeOrmModule.forFeature([Image]), ImagesModule, IdempotencyModule],
  controllers: [InventorumController],
  providers: [InventorumService],
})
export class InventorumModule {}
