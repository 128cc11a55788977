import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { credentialGoneMeanwhile } from '../../auth/challenge';
import type { RequestContext } from '../../auth/principal';
import { isForeignKeyViolation } from '../../database/pg-errors';
import { StandaloneImageDto } from '../dto/standalone-image.dto';
import type { Image } from '../entities/image.entity';
import type { StandaloneUploadFieldsDto } from '../dto/upload-image.dto';
import { ResponsiveImages } from '../delivery/responsive-images';
import { ImageFilesService } from '../image-files.service';
import type { ImageUpload } from '../intake/multipart-upload';
import { newImageRecord } from '../new-image';
import { ImageProcessor } from '../processing/image-processor';
import { StandaloneImagesRepository } from './standalone-images.repository';

/** A stand-alone upload: an image in no product's gallery. */
@Injectable()
export class StandaloneUploadService {
  constructor(
    private readonly processor: ImageProcessor,
    private readonly files: ImageFilesService,
    private readonly repository: StandaloneImagesRepository,
    private readonly responsive: ResponsiveImages,
  ) {}

  /**
   * A stand-alone upload (Inventorum and the back-office uploader): checked, processed and stored
   * like a gallery upload, under `uploads/<id>/`, with no product. It is kept until deleted, or,
   * when `expires_in` is given (an upload-then-attach flow), until then unless it is attached to a
   * gallery first (purpose `product` only).
   */
  async upload(
    ctx: RequestContext,
    upload: ImageUpload<StandaloneUploadFieldsDto>,
  ): Promise<StandaloneImageDto> {
    // Its SVG check and render ended at once if the client leaves meanwhile.
    const processed = await this.processor.process(upload.file.path, {
      ...this.files.processingOptions(),
      signal: upload.file.signal,
    });
    const id = randomUUID();
    const { fields } = upload;
    return this.files.withStoredFiles(
      processed,
      { imageId: id, productId: null, organizationId: ctx.organizationId },
      async (files) => {
        const image = await this.insert(
          ctx,
          {
            ...newImageRecord(ctx, id, files, upload.file.filename),
            purpose: fields.purpose,
            title: fields.title ?? '',
            altText: fields.alt_text ?? '',
            description: fields.description ?? '',
            organizationId: ctx.organizationId,
            productId: null,
            isPrimary: false,
            priority: 0,
          },
          fields.expires_in,
        );
        return StandaloneImageDto.from(
          image,
          await this.files.urls(image),
          await this.responsive.of(image),
        );
      },
    );
  }

  /**
   * The row. Its organisation deleted (delete-organization) while the image was processed, or
   * while a cache (another instance's copy of an API key's row, for 5 seconds) still admitted the
   * caller: the 401 that credential gets from now on, not a 500 from the foreign key (the files
   * are deleted as after any refusal).
   */
  private async insert(
    ctx: RequestContext,
    image: Partial<Image>,
    expiresIn: number | undefined,
  ): Promise<Image> {
    try {
      return await this.repository.insert(image, expiresIn);
    } catch (error) {
      if (!isForeignKeyViolation(error, 'FK_images_organization')) throw error;
      throw credentialGoneMeanwhile(ctx.principal.type);
    }
  }
}
