import { join, resolve } from 'node:path';
import {
  createParamDecorator,
  Injectable,
  type ExecutionContext,
  type PipeTransform,
} from '@nestjs/common';
import type { ClassConstructor } from 'class-transformer';
import type { FastifyRequest } from 'fastify';
import { EnvironmentVariables } from '../config/env.validation';
import { AppError } from '../common/errors/app.error';
import { validateInput } from '../common/http/validation';
import { AttachImageDto } from './dto/gallery.dto';
import { StandaloneUploadFieldsDto, UploadImageFieldsDto } from './dto/upload-image.dto';
import type { GalleryAddition } from './images.service';
import { readImageUpload, type ImageUpload } from './multipart-upload';

/** Where uploads are spooled while they are checked: `<DATA_DIR>/tmp/uploads`. */
export function uploadTempDir(env: EnvironmentVariables): string {
  return resolve(join(env.DATA_DIR, 'tmp', 'uploads'));
}

/** The raw request, for {@link ImageUploadPipe}. */
export const MultipartBody = createParamDecorator(
  (_: unknown, context: ExecutionContext): FastifyRequest => context.switchToHttp().getRequest(),
);

/**
 * `@MultipartBody(ImageUploadPipe) upload: ImageUpload`: the streamed upload, its text fields
 * validated as `fieldsType`.
 */
export abstract class ImageUploadPipeBase<Fields extends object> implements PipeTransform<
  FastifyRequest,
  Promise<ImageUpload<Fields>>
> {
  private readonly tmpDir: string;

  constructor(
    env: EnvironmentVariables,
    private readonly fieldsType: ClassConstructor<Fields>,
  ) {
    this.tmpDir = uploadTempDir(env);
  }

  transform(request: FastifyRequest): Promise<ImageUpload<Fields>> {
    return readImageUpload(request, this.tmpDir, this.fieldsType);
  }
}

/** A gallery upload: `image` and the gallery fields. */
@Injectable()
export class ImageUploadPipe extends ImageUploadPipeBase<UploadImageFieldsDto> {
  constructor(env: EnvironmentVariables) {
    super(env, UploadImageFieldsDto);
  }
}

/** A stand-alone upload: `image`, its `purpose`, its text and an optional `expires_in`. */
@Injectable()
export class StandaloneUploadPipe extends ImageUploadPipeBase<StandaloneUploadFieldsDto> {
  constructor(env: EnvironmentVariables) {
    super(env, StandaloneUploadFieldsDto);
  }
}

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
    if (/^application\/json\s*(;|$)/i.test(type)) {
      const body: unknown = request.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new AppError('validation_failed', 'The body must be a JSON object.');
      }
      return { attach: validateInput(AttachImageDto, body) };
    }
    throw new AppError(
      'unsupported_media_type',
      'Send the image as multipart/form-data, or JSON {"image_id": …} to attach an uploaded image.',
    );
  }
}
