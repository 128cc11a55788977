import { Module } from '@nestjs/common';
import { ConfiguredStorageModule } from '../../storage/storage.module';
import { ImagesModule } from '../images.module';
import { DeliveryController } from './delivery.controller';
import { DeliveryRepository } from './delivery.repository';
import { DeliveryService } from './delivery.service';
import { MediaExpiryHooks } from './media-expiry.hooks';
import { TransformResults } from './transform-results.service';
import { TransformRoute } from './transform.route';

/**
 * Images made on request: the `/transform/…` route (outside the API prefix, like /media), the
 * results made once and kept in storage. The URLs themselves are built by TransformUrls, which
 * ImagesModule provides (its responses carry them) and exports with the signer and settings. Also
 * bounds /media's caching of an expiring stand-alone upload's files (MediaExpiryHooks).
 */
@Module({
  imports: [ImagesModule, ConfiguredStorageModule],
  controllers: [DeliveryController],
  providers: [
    DeliveryRepository,
    TransformResults,
    DeliveryService,
    MediaExpiryHooks,
    TransformRoute,
  ],
})
export class DeliveryModule {}
