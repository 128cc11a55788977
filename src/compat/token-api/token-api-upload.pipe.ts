import { Injectable } from '@nestjs/common';
import { EnvironmentVariables } from '../../config/env.validation';
import { ImageUploadPipeBase } from '../../images/intake/image-upload.pipe';
import { TokenApiUploadFieldsDto } from './dto/token-api-upload.dto';

/**
 * `@MultipartBody(TokenApiUploadPipe)`: the token API's multipart upload, read as the main API reads its own
 * (streamed, spooled, limits and errors alike), with the token API's fields.
 */
@Injectable()
export class TokenApiUploadPipe extends ImageUploadPipeBase<TokenApiUploadFieldsDto> {
  constructor(env: EnvironmentVariables) {
    super(env, TokenApiUploadFieldsDto);
  }
}
