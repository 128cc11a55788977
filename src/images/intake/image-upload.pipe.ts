import { Inject, Injectable, type PipeTransform } from '@nestjs/common';
import type { ClassConstructor } from 'class-transformer';
import type { FastifyRequest } from 'fastify';
import { StandaloneUploadFieldsDto, UploadImageFieldsDto } from '../dto/upload-image.dto';
import { IMAGES_CONFIG, type ImagesConfig } from '../images.config';
import { readImageUpload, type ImageUpload } from './multipart-upload';
import { uploadTempDir } from './upload-spool';

/**
 * `@MultipartRequest(ImageUploadPipe) upload: ImageUpload`: the streamed upload, its text fields
 * validated as `fieldsType`.
 */
export abstract class ImageUploadPipeBase<Fields extends object> implements PipeTransform<
  FastifyRequest,
  Promise<ImageUpload<Fields>>
> {
  private readonly tmpDir: string;
  private readonly maxFileBytes: number;

  constructor(
    config: ImagesConfig,
    private readonly fieldsType: ClassConstructor<Fields>,
  ) {
    this.tmpDir = uploadTempDir(config);
    this.maxFileBytes = config.MAX_UPLOAD_BYTES;
  }

  transform(request: FastifyRequest): Promise<ImageUpload<Fields>> {
    return readImageUpload(request, this.tmpDir, this.fieldsType, {
      maxFileBytes: this.maxFileBytes,
    });
  }
}

/** A gallery upload: `image` and the gallery fields. */
@Injectable()
export class ImageUploadPipe extends ImageUploadPipeBase<UploadImageFieldsDto> {
  constructor(@Inject(IMAGES_CONFIG) config: ImagesConfig) {
    super(config, UploadImageFieldsDto);
  }
}

/** A stand-alone upload: `image`, its `purpose`, its text and an optional `expires_in`. */
@Injectable()
export class StandaloneUploadPipe extends ImageUploadPipeBase<StandaloneUploadFieldsDto> {
  constructor(@Inject(IMAGES_CONFIG) config: ImagesConfig) {
    super(config, StandaloneUploadFieldsDto);
  }
}
