import { Inject, Injectable } from '@nestjs/common';
import { IMAGES_CONFIG, type ImagesConfig } from '../../images/images.config';
import { ImageUploadPipeBase } from '../../images/intake/image-upload.pipe';
import { ClosientUploadFieldsDto } from './dto/closient-upload.dto';

/**
 * `@MultipartRequest(ClosientUploadPipe)`: Closient's multipart upload, read as the main API
 * reads its own (streamed, spooled, limits and errors alike), with Closient's fields.
 */
@Injectable()
export class ClosientUploadPipe extends ImageUploadPipeBase<ClosientUploadFieldsDto> {
  constructor(@Inject(IMAGES_CONFIG) config: ImagesConfig) {
    super(config, ClosientUploadFieldsDto);
  }
}
