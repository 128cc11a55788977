import { Injectable, type PipeTransform } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { EnvironmentVariables } from '../../config/env.validation';
import { uploadTempDir } from '../../images/image-upload.pipe';
import { readImageUpload, type ImageUpload } from '../../images/multipart-upload';
import { ClosientUploadFieldsDto } from './dto/closient-upload.dto';

/**
 * `@MultipartBody(ClosientUploadPipe)`: Closient's multipart upload, read as the main API reads
 * its own (streamed, spooled, limits and errors alike), with Closient's fields.
 */
@Injectable()
export class ClosientUploadPipe implements PipeTransform<
  FastifyRequest,
  Promise<ImageUpload<ClosientUploadFieldsDto>>
> {
  private readonly tmpDir: string;

  constructor(env: EnvironmentVariables) {
    this.tmpDir = uploadTempDir(env);
  }

  transform(request: FastifyRequest): Promise<ImageUpload<ClosientUploadFieldsDto>> {
    return readImageUpload(request, this.tmpDir, ClosientUploadFieldsDto);
  }
}
