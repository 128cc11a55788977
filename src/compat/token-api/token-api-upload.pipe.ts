import { Injectable, type PipeTransform } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { EnvironmentVariables } from '../../config/env.validation';
import { uploadTempDir } from '../../images/image-upload.pipe';
import { readImageUpload, type ImageUpload } from '../../images/multipart-upload';
import { TokenApiUploadFieldsDto } from './dto/token-api-upload.dto';

/**
 * `@MultipartBody(TokenApiUploadPipe)`: the token API's multipart upload, read as the main API
 * reads its own (streamed, spooled, limits and errors alike), with the token API's fields.
 */
@Injectable()
export class TokenApiUploadPipe implements PipeTransform<
  FastifyRequest,
  Promise<ImageUpload<TokenApiUploadFieldsDto>>
> {
  private readonly tmpDir: string;

  constructor(env: EnvironmentVariables) {
    this.tmpDir = uploadTempDir(env);
  }

  transform(request: FastifyRequest): Promise<ImageUpload<TokenApiUploadFieldsDto>> {
    return readImageUpload(request, this.tmpDir, TokenApiUploadFieldsDto);
  }
}
