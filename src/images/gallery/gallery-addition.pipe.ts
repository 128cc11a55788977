import { Injectable, type PipeTransform } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../../common/errors/app.error';
import { assertJsonObject, validateInput } from '../../common/http/validation';
import { AttachImageDto } from '../dto/gallery.dto';
import type { ImageUpload } from '../intake/multipart-upload';
import { ImageUploadPipe } from '../intake/image-upload.pipe';
import { isMediaType } from '../../common/http/media-type';

/** What `POST …/images` brings: a multipart upload, or a stand-alone upload to attach. */
export type GalleryAddition = { upload: ImageUpload } | { attach: AttachImageDto };

/**
 * `POST …/images` takes two bodies on one route (Nest cannot route by content type): a multipart
 * upload, or JSON `{ image_id, … }` attaching a stand-alone upload.
 */
@Injectable()
export class GalleryAdditionPipe implements PipeTransform<
  FastifyRequest,
  Promise<GalleryAddition>
> {
  constructor(private readonly uploads: ImageUploadPipe) {}

  async transform(request: FastifyRequest): Promise<GalleryAddition> {
    if (request.isMultipart()) return { upload: await this.uploads.transform(request) };
    const type = request.headers['content-type'] ?? '';
    if (isMediaType(type, 'application/json')) {
      const body: unknown = request.body;
      assertJsonObject(body);
      return { attach: validateInput(AttachImageDto, body) };
    }
    throw new AppError(
      'unsupported_media_type',
      'Send the image as multipart/form-data, or JSON {"image_id": …} to attach an uploaded image.',
    );
  }
}
