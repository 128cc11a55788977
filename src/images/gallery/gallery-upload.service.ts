import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { Injectable } from '@nestjs/common';
import type { RequestContext } from '../../auth/principal';
import { ProductsService, type ProductRef } from '../../products/products.service';
import type { ImageDto } from '../dto/image.dto';
import type { UploadImageFieldsDto } from '../dto/upload-image.dto';
import { ImageFilesService } from '../image-files.service';
import { ImageImportService } from '../intake/import/image-import.service';
import type { ImageUpload } from '../intake/multipart-upload';
import { newImageRecord } from '../new-image';
import { ImageProcessor } from '../processing/image-processor';
import {
  GalleryService,
  type AddOptions,
  type AlsoRecord,
  type AddedImage,
} from './gallery.service';

/** An upload into a product's gallery. */
@Injectable()
export class GalleryUploadService {
  constructor(
    private readonly products: ProductsService,
    private readonly processor: ImageProcessor,
    private readonly files: ImageFilesService,
    private readonly gallery: GalleryService,
    private readonly importer: ImageImportService,
  ) {}

  /**
   * Checks, processes and stores an uploaded image, then adds it to the gallery. Nothing is left
   * behind when any step fails: files already written are deleted, and the row is never inserted.
   * `options` as GalleryService.add takes them (If-Match, what commits with the image), and the
   * new image's `id` (a bulk import chooses it beforehand, to recognise its own image).
   */
  async upload(
    ctx: RequestContext,
    ref: ProductRef,
    upload: ImageUpload,
    { id = randomUUID(), ...options }: AddOptions & { id?: string } = {},
  ): Promise<AddedImage> {
    const product = await this.products.find(ctx, ref);
    const processed = await this.processor.process(
      upload.file.path,
      this.files.processingOptions(),
    );
    const of = { imageId: id, productId: product.id, organizationId: ctx.organizationId };
    return this.files.withStoredFiles(processed, of, (files) =>
      // By the reference: a GTIN or external id that moved to another product while the image
      // was processed names that product when the image joins it, never the one it left.
      this.gallery.add(
        ctx,
        ref,
        {
          ...newImageRecord(ctx, id, files, upload.file.filename),
          title: upload.fields.title ?? '',
          altText: upload.fields.alt_text ?? '',
          description: upload.fields.description ?? '',
        },
        { isPrimary: upload.fields.is_primary, priority: upload.fields.priority },
        options,
      ),
    );
  }

  /**
   * A bulk import's row: the image at `url`, fetched as the Ocha API's import fetches it (safe
   * against request forgery, see ImageImportService), then added exactly as an upload with these
   * fields, as image `image.id`, recording `image.alsoRecord` with it. An unknown product is
   * refused before anything is fetched.
   */
  async uploadFromUrl(
    ctx: RequestContext,
    ref: ProductRef,
    url: string,
    fields: UploadImageFieldsDto,
    image: { id: string; alsoRecord?: AlsoRecord },
  ): Promise<ImageDto> {
    await this.products.find(ctx, ref);
    return this.importer.withFile(url, async (file) => {
      const { size } = await stat(file.path);
      const upload = { file: { path: file.path, size, filename: file.filename }, fields };
      const added = await this.upload(ctx, ref, upload, image);
      return added.image;
    });
  }
}
