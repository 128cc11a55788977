import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { RequestContext } from '../../auth/principal';
import { ProductsService, type ProductRef } from '../../products/products.service';
import type { ImageDto } from '../dto/image.dto';
import { ImageFilesService } from '../image-files.service';
import type { ImageUpload } from '../intake/multipart-upload';
import { newImageRecord } from '../new-image';
import { ImageProcessor } from '../processing/image-processor';
import { GalleryService } from './gallery.service';

/** An upload into a product's gallery. */
@Injectable()
export class GalleryUploadService {
  constructor(
    private readonly products: ProductsService,
    private readonly processor: ImageProcessor,
    private readonly files: ImageFilesService,
    private readonly gallery: GalleryService,
  ) {}

  /**
   * Checks, processes and stores an uploaded image, then adds it to the gallery. Nothing is left
   * behind when any step fails: files already written are deleted, and the row is never inserted.
   */
  async upload(ctx: RequestContext, ref: ProductRef, upload: ImageUpload): Promise<ImageDto> {
    const product = await this.products.find(ctx, ref);
    const processed = await this.processor.process(
      upload.file.path,
      this.files.processingOptions(),
    );
    const id = randomUUID();
    return this.files.withStoredFiles(processed, { imageId: id, productId: product.id }, (files) =>
      this.gallery.add(
        ctx,
        { id: product.id },
        {
          ...newImageRecord(ctx, id, files, upload.file.filename),
          title: upload.fields.title ?? '',
          altText: upload.fields.alt_text ?? '',
          description: upload.fields.description ?? '',
        },
        { isPrimary: upload.fields.is_primary, priority: upload.fields.priority },
      ),
    );
  }
}
