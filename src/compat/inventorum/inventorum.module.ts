import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Image } from '../../images/entities/image.entity';
import { ImagesModule } from '../../images/images.module';
import { InventorumController } from './inventorum.controller';
import { InventorumService } from './inventorum.service';

/** Compatibility with Inventorum's stand-alone `POST /images`. */
@Module({
  imports: [TypeOrmModule.forFeature([Image]), ImagesModule],
  controllers: [InventorumController],
  providers: [InventorumService],
})
export class InventorumModule {}
