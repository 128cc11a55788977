import { Inject, Injectable, type PipeTransform } from '@nestjs/common';
import { Allow } from 'class-validator';
import type { FastifyRequest } from 'fastify';
import { IMAGES_CONFIG, type ImagesConfig } from '../../images/images.config';
import { uploadTempDir } from '../../images/intake/upload-spool';
import { readImageUpload, type ReceivedFile } from '../../images/intake/multipart-upload';
import { backofficeLimit } from './backoffice-formats';

/**
 * The back-office uploader's form has the `image` file and no text field. A text value named
 * `image` is let through here only to be answered as what it is: no file (400 image_required).
 */
class BackofficeUploadFieldsDto {
  @Allow()
  image?: string;
}

/**
 * `@MultipartRequest(BackofficeUploadPipe)`: the `image` file of a back-office upload, streamed to
 * the request's spool by readImageUpload, cut at the route's own limit (15 MiB, or
 * MAX_UPLOAD_BYTES if lower) the moment a file crosses it: 413, the rest never read.
 */
@Injectable()
export class BackofficeUploadPipe implements PipeTransform<FastifyRequest, Promise<ReceivedFile>> {
  private readonly tmpDir: string;
  private readonly maxBytes: number;

  constructor(@Inject(IMAGES_CONFIG) config: ImagesConfig) {
    this.tmpDir = uploadTempDir(config);
    this.maxBytes = backofficeLimit(config.MAX_UPLOAD_BYTES);
  }

  async transform(request: FastifyRequest): Promise<ReceivedFile> {
    const upload = await readImageUpload(request, this.tmpDir, BackofficeUploadFieldsDto, {
      maxFileBytes: this.maxBytes,
    });
    return upload.file;
  }
}
