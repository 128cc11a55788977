import { Inject, Injectable } from '@nestjs/common';
import { IMAGES_CONFIG, type ImagesConfig } from '../../images/images.config';
import { ImageUploadPipeBase } from '../../images/intake/image-upload.pipe';
import { TokenApiUploadFieldsDto } from './dto/token-api-upload.dto';

/**
 * `@MultipartRequest(TokenApiUploadPipe)`: the token API's multipart upload, read as the main
 * API reads its own (streamed, spooled, limits and errors alike), with the token API's fields.
 */
@Injectable()
export class TokenApiUploadPipe extends ImageUploadPipeBase<TokenApiUploadFieldsDto> {
  constructor(@Inject(IMAGES_CONFIG) config: ImagesConfig) {
    super(config, TokenApiUploadFieldsDto);
  }
}
