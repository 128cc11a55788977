import { Inject, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import type { RequestContext } from '../../auth/principal';
import { AppError } from '../../common/errors/app.error';
import { decodeId } from '../../common/ids/short-id';
import { retryOnLostConnection } from '../../database/lost-connection-retry';
import type { StandaloneUploadFieldsDto } from '../../images/dto/upload-image.dto';
import { Image } from '../../images/entities/image.entity';
import { IMAGES_CONFIG, type ImagesConfig } from '../../images/images.config';
import { ImagesService } from '../../images/images.service';
import type { ImageUpload } from '../../images/intake/multipart-upload';
import { parseRenditionPresets } from '../../images/processing/rendition-presets';
import { InventorumImageDto } from './dto/inventorum-image.dto';
import { inventorumUrlNames, type InventorumUrlNames } from './inventorum-urls';

/** Inventorum's `POST /api/images/`: a stand-alone upload, answered with its integer number. */
@Injectable()
export class InventorumService {
  /** The renditions answered under Inventorum's keys of `urls` (see inventorumUrlNames). */
  private readonly urlNames: InventorumUrlNames;

  constructor(
    private readonly images: ImagesService,
    @InjectRepository(Image) private readonly rows: Repository<Image>,
    @Inject(IMAGES_CONFIG) config: ImagesConfig,
  ) {
    this.urlNames = inventorumUrlNames(parseRenditionPresets(config.IMAGE_RENDITIONS));
  }

  async upload(
    ctx: RequestContext,
    upload: ImageUpload<StandaloneUploadFieldsDto>,
  ): Promise<InventorumImageDto> {
    const image = await this.images.uploadStandalone(ctx, upload);
    const id = decodeId(image.id);
    if (!id) throw new Error(`the stand-alone upload answered an id that is not one: ${image.id}`);
    // After the upload's commit: read again after a lost connection rather than answer 503 for
    // an image that is there (its client would upload it again).
    const row = await retryOnLostConnection(() =>
      this.rows.findOne({ select: { id: true, number: true }, where: ctx.scoped({ id }) }),
    );
    // Deleted by another client in the instant since its upload committed: not a fault of the
    // service (no 500), answered as the token API answers the same race.
    if (!row) throw new AppError('image_not_found', 'The image was deleted meanwhile.');
    return InventorumImageDto.from(row.number, image, this.urlNames);
  }
}
