import { Injectable } from '@nestjs/common';
import type { RequestContext } from '../auth/principal';
import { AppError } from '../common/errors/app.error';
import { decodeId } from '../common/ids/short-id';
import type { ProductRef } from '../products/products.service';
import { StandaloneUploadService } from './assets/standalone-upload.service';
import type { AttachImageDto } from './dto/gallery.dto';
import type { ImageDto } from './dto/image.dto';
import type { StandaloneImageDto } from './dto/standalone-image.dto';
import type { StandaloneUploadFieldsDto, UploadImageFieldsDto } from './dto/upload-image.dto';
import type { GalleryAddition } from './gallery/gallery-addition.pipe';
import { GalleryUploadService } from './gallery/gallery-upload.service';
import {
  GalleryService,
  type AlsoRecord,
  type ExpectedVersions,
  type AddedImage,
} from './gallery/gallery.service';
import {
  PrimaryImageImportService,
  type ImportedPrimary,
} from './gallery/primary-image-import.service';
import type { ImageUpload } from './intake/multipart-upload';

/**
 * The one entry point for images coming in, for the main API's routes and the compatible APIs:
 * gallery uploads, stand-alone uploads, attaching those, and the Ocha API's JSON import, each all
 * or nothing. It only dispatches: each flow has its own service, and where an image goes in the
 * gallery (one primary, priority order) is decided by GalleryService, under the product's lock.
 */
@Injectable()
export class ImagesService {
  constructor(
    private readonly galleryUploads: GalleryUploadService,
    private readonly standaloneUploads: StandaloneUploadService,
    private readonly primaryImports: PrimaryImageImportService,
    private readonly gallery: GalleryService,
  ) {}

  /**
   * `POST …/images`: uploads an image into the gallery, or attaches a stand-alone upload, if the
   * gallery is at a version `expected` names (its If-Match; 412 gallery_changed if not).
   */
  add(
    ctx: RequestContext,
    ref: ProductRef,
    addition: GalleryAddition,
    expected?: ExpectedVersions,
  ): Promise<AddedImage> {
    return 'upload' in addition
      ? this.galleryUploads.upload(ctx, ref, addition.upload, { expected })
      : this.attach(ctx, ref, addition.attach, expected);
  }

  /** An upload into the product's gallery (see GalleryUploadService). */
  async upload(ctx: RequestContext, ref: ProductRef, upload: ImageUpload): Promise<ImageDto> {
    return (await this.galleryUploads.upload(ctx, ref, upload)).image;
  }

  /**
   * A bulk import's row: the image at `url` into the gallery, as an upload with `fields`, under
   * the id `image.id`, with `image.alsoRecord` in its transaction (GalleryUploadService).
   */
  uploadFromUrl(
    ctx: RequestContext,
    ref: ProductRef,
    url: string,
    fields: UploadImageFieldsDto,
    image: { id: string; alsoRecord?: AlsoRecord },
  ): Promise<ImageDto> {
    return this.galleryUploads.uploadFromUrl(ctx, ref, url, fields, image);
  }

  /** An upload into no gallery (see StandaloneUploadService). */
  uploadStandalone(
    ctx: RequestContext,
    upload: ImageUpload<StandaloneUploadFieldsDto>,
  ): Promise<StandaloneImageDto> {
    return this.standaloneUploads.upload(ctx, upload);
  }

  /** Attaches a stand-alone upload to the gallery (JSON `POST …/images`), as `add` does. */
  attach(
    ctx: RequestContext,
    ref: ProductRef,
    dto: AttachImageDto,
    expected?: ExpectedVersions,
  ): Promise<AddedImage> {
    const imageId = decodeId(dto.image_id);
    if (!imageId) {
      throw new AppError('invalid_id', 'image_id is not an image id.', [
        { field: 'image_id', message: 'is not an id' },
      ]);
    }
    return this.gallery.attach(
      ctx,
      ref,
      imageId,
      { title: dto.title, altText: dto.alt_text, description: dto.description },
      { isPrimary: dto.is_primary, priority: dto.priority },
      expected,
    );
  }

  /** The Ocha API's product image from a data URI or a URL (see PrimaryImageImportService). */
  importPrimary(
    ctx: RequestContext,
    ref: ProductRef,
    source: string,
    expected?: ExpectedVersions,
  ): Promise<ImportedPrimary> {
    return this.primaryImports.importPrimary(ctx, ref, source, expected);
  }

  /** One image of the product's gallery. */
  get(ctx: RequestContext, ref: ProductRef, imageId: string): Promise<ImageDto> {
    return this.gallery.get(ctx, ref, imageId);
  }
}
