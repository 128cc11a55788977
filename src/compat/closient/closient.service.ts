import { Injectable } from '@nestjs/common';
import type { RequestContext } from '../../auth/principal';
import { AppError } from '../../common/errors/app.error';
import { ImagesService } from '../../images/images.service';
import type { ImageUpload } from '../../images/intake/multipart-upload';
import {
  assertOwnOrganization,
  closientGtin,
  productNotFound,
  toClosientImage,
} from './closient-mapping';
import type { ClosientImageDto } from './dto/closient-image.dto';
import type { ClosientUploadFieldsDto } from './dto/closient-upload.dto';

/** Where Closient's trade items are addressed: the caller's organisation and a GTIN. */
export interface TradeItemPath {
  organizationId: string;
  gtin: string;
}

/**
 * Closient's trade-item images on the main API's services: the product named by its GTIN in the
 * caller's organisation, the upload through ImagesService (every check, the storage and the
 * gallery rules, the primary switch included, are its own), the answer in Closient's shape.
 */
@Injectable()
export class ClosientService {
  constructor(private readonly images: ImagesService) {}

  async upload(
    ctx: RequestContext,
    path: TradeItemPath,
    upload: ImageUpload<ClosientUploadFieldsDto>,
  ): Promise<ClosientImageDto> {
    assertOwnOrganization(path.organizationId, ctx.organizationId);
    const gtin = closientGtin(path.gtin);
    const { title, is_primary } = upload.fields;
    const image = await this.images
      .upload(
        ctx,
        { gtin },
        { file: upload.file, fields: { title: title ?? '', is_primary: is_primary ?? false } },
      )
      .catch(inClosientTerms);
    return toClosientImage(image);
  }
}

/**
 * No product with the GTIN, said in Closient's terms (as for another organisation's id): the main
 * API's sentence names ids and external ids, which Closient's path never carries.
 */
function inClosientTerms(error: unknown): never {
  if (error instanceof AppError && error.code === 'product_not_found') throw productNotFound();
  throw error;
}
