import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { Injectable } from '@nestjs/common';
import type { RequestContext } from '../../auth/principal';
import { ProductsService, type ProductRef } from '../../products/products.service';
import type { ImageDto } from '../dto/image.dto';
import type { UploadImageFieldsDto } from '../dto/upload-image.dto';
import { ImageFilesService, type StoredFiles } from '../image-files.service';
import { ImageImportService } from '../intake/import/image-import.service';
import type { ImageUpload } from '../intake/multipart-upload';
import { newImageRecord } from '../new-image';
import { ImageProcessor } from '../processing/image-processor';
import {
  GalleryService,
  ProductMoved,
  type AddOptions,
  type AlsoRecord,
  type AddedImage,
} from './gallery.service';

/** Stores of an upload's files under the product its reference names (see upload). */
const MAX_STORE_ATTEMPTS = 3;

function placementOf(upload: ImageUpload) {
  return { isPrimary: upload.fields.is_primary, priority: upload.fields.priority };
}

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
    let productId = (await this.products.find(ctx, ref)).id;
    // Its SVG check and render ended at once if the client leaves meanwhile.
    const processed = await this.processor.process(upload.file.path, {
      ...this.files.processingOptions(),
      signal: upload.file.signal,
    });
    // By the reference: a GTIN or external id that moved to another product while the image was
    // processed names that product when the image joins it, never the one it left, and the files
    // are stored again under its id (their keys name the product). Twice at most; a third move
    // joins as the files are. The files of a product left are given up, their deletion queued:
    // back at a product it stored for already, the keys are the stand-alone ones (`uploads/<id>/`,
    // which no earlier attempt wrote), never those whose deletion may still be to run.
    const storedUnder = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      const keyOwner = storedUnder.has(productId) ? null : productId;
      storedUnder.add(productId);
      const of = { imageId: id, productId: keyOwner, organizationId: ctx.organizationId };
      const storedFor = attempt < MAX_STORE_ATTEMPTS ? productId : undefined;
      try {
        return await this.files.withStoredFiles(processed, of, (files) =>
          this.gallery.add(ctx, ref, this.record(ctx, id, files, upload), placementOf(upload), {
            ...options,
            storedFor,
          }),
        );
      } catch (error) {
        if (!(error instanceof ProductMoved)) throw error;
        productId = error.productId;
      }
    }
  }

  private record(ctx: RequestContext, id: string, files: StoredFiles, upload: ImageUpload) {
    return {
      ...newImageRecord(ctx, id, files, upload.file.filename),
      title: upload.fields.title ?? '',
      altText: upload.fields.alt_text ?? '',
      description: upload.fields.description ?? '',
    };
  }

  /**
   * A bulk import's row: the image at `url`, fetched as the Ocha API's import fetches it (safe
   * against request forgery, see ImageImportService), then added exactly as an upload with these
   * fields, as image `image.id`, recording `image.alsoRecord` with it. An unknown product, and a
   * saturated processor, are refused before anything is fetched.
   */
  async uploadFromUrl(
    ctx: RequestContext,
    ref: ProductRef,
    url: string,
    fields: UploadImageFieldsDto,
    image: { id: string; alsoRecord?: AlsoRecord },
  ): Promise<ImageDto> {
    await this.products.find(ctx, ref);
    // A saturated processor refuses now (503 server_busy: the row's job is retried), before the
    // image is fetched and written to the spool only to be refused.
    this.processor.refuseIfBusy('process');
    return this.importer.withFile(url, async (file) => {
      const { size } = await stat(file.path);
      const upload = { file: { path: file.path, size, filename: file.filename }, fields };
      const added = await this.upload(ctx, ref, upload, image);
      return added.image;
    });
  }
}
