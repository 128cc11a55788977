import { Injectable } from '@nestjs/common';
import { fileTypeFromFile } from 'file-type';
import type { RequestContext } from '../../auth/principal';
import { AppError } from '../../common/errors/app.error';
import { ImagePurpose } from '../../images/entities/image.entity';
import { ImagesService } from '../../images/images.service';
import type { ReceivedFile } from '../../images/intake/multipart-upload';
import { isBackofficeFormat } from './backoffice-formats';
import type { BackofficeUploadDto } from './dto/backoffice-upload.dto';

/**
 * The back-office uploader's `POST /image`: a stand-alone upload of purpose `product` (images
 * "for use throughout the app"; `product` is the purpose that can also join a gallery later),
 * kept until deleted, of the uploader's formats only.
 */
@Injectable()
export class BackofficeUploaderService {
  constructor(private readonly images: ImagesService) {}

  async upload(ctx: RequestContext, file: ReceivedFile): Promise<BackofficeUploadDto> {
    await this.assertAcceptedFormat(file);
    const image = await this.images.uploadStandalone(ctx, {
      file,
      fields: { purpose: ImagePurpose.Product },
    });
    return { data: { key: image.key } };
  }

  /**
   * The service accepts more types (AVIF, BMP, SVG) than the back-office uploader does: those
   * are refused here, by the bytes, before anything is processed or stored.
   */
  private async assertAcceptedFormat(file: ReceivedFile): Promise<void> {
    const type = await fileTypeFromFile(file.path);
    if (isBackofficeFormat(type?.mime)) return;
    throw new AppError(
      'unsupported_image_type',
      'The back-office uploader accepts JPEG, PNG, GIF and WebP images only.',
      [{ field: 'image', message: `unsupported type${type ? ` (${type.mime})` : ''}` }],
    );
  }
}
