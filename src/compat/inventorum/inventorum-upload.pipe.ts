import { Inject, Injectable, type PipeTransform } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { StandaloneUploadFieldsDto } from '../../images/dto/upload-image.dto';
import { IMAGES_CONFIG, type ImagesConfig } from '../../images/images.config';
import { uploadTempDir } from '../../images/intake/upload-spool';
import { readImageUpload, type ImageUpload } from '../../images/intake/multipart-upload';
import { ImagePurpose } from '../../images/entities/image.entity';
import {
  InventorumUploadFieldsDto,
  UntypedInventorumUploadFieldsDto,
} from './dto/inventorum-upload-fields.dto';
import { imageFieldFor, inventorumParts, takesTypeFor, type FormNotes } from './inventorum-form';
import { settleBoundary } from './multipart-boundary';

const notes = new WeakMap<object, FormNotes>();

/** What reading the request's form noticed (for its error messages). */
export function formNotesOf(request: FastifyRequest): FormNotes {
  let found = notes.get(request.raw);
  if (!found) notes.set(request.raw, (found = { imageSentAsText: false }));
  return found;
}

/**
 * `@MultipartRequest(InventorumUploadPipe)`: Inventorum's form read as the service's stand-alone
 * upload. Its file field follows `X-Api-Version` (`product_image` up to 7, `image` after), its
 * `type` (from version 3; before, every image is a product's) is the purpose, and a Content-Type with two boundaries (curl's, for Inventorum's own
 * printed command) is narrowed to the body's before the multipart reader starts. The file is
 * streamed to the request's spool by readImageUpload, with its limits, as every upload is.
 */
@Injectable()
export class InventorumUploadPipe implements PipeTransform<
  FastifyRequest,
  Promise<ImageUpload<StandaloneUploadFieldsDto>>
> {
  private readonly tmpDir: string;
  private readonly maxFileBytes: number;

  constructor(@Inject(IMAGES_CONFIG) config: ImagesConfig) {
    this.tmpDir = uploadTempDir(config);
    this.maxFileBytes = config.MAX_UPLOAD_BYTES;
  }

  async transform(request: FastifyRequest): Promise<ImageUpload<StandaloneUploadFieldsDto>> {
    if (request.isMultipart()) await settleBoundary(request.raw);
    const version = request.headers['x-api-version'];
    const imageField = imageFieldFor(version);
    const takesType = takesTypeFor(version);
    const fields = takesType ? InventorumUploadFieldsDto : UntypedInventorumUploadFieldsDto;
    const upload = await readImageUpload<Partial<InventorumUploadFieldsDto>>(
      request,
      this.tmpDir,
      fields,
      {
        maxFileBytes: this.maxFileBytes,
        translateParts: (parts) =>
          inventorumParts(parts, imageField, formNotesOf(request), takesType, this.maxFileBytes),
      },
    );
    return {
      file: upload.file,
      fields: { purpose: upload.fields.type ?? ImagePurpose.Product },
    };
  }
}
