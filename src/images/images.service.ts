import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import type { RequestContext } from '../auth/principal';
import { AppError } from '../common/errors/app.error';
import { safeError } from '../common/logging/safe-error';
import { ProductsService, type ProductRef } from '../products/products.service';
import { StorageDeletionsService } from '../storage/storage-deletions.service';
import { imageObjectKey } from '../storage/storage-keys';
import {
  deliveryHeaders,
  STORAGE_PROVIDER,
  type StorageProvider,
  type StoredObject,
} from '../storage/storage-provider';
import type { ImageDto } from './dto/image.dto';
import { GalleryService } from './gallery.service';
import { ImagePresenter } from './image-presenter';
import { Image, ImagePurpose, type StoredRendition } from './entities/image.entity';
import { ImageProcessor, type EncodedImage, type ProcessedImage } from './image-processor';
import type { ImageUpload } from './multipart-upload';
import { renditionSize } from './rendition-presets';

interface StoredOriginal {
  format: string;
  width: number;
  height: number;
  size: number;
}

/**
 * Product images: upload (all or nothing) and read. Where the image goes in the gallery (primary,
 * priority) is decided by GalleryService, under the product's lock.
 */
@Injectable()
export class ImagesService {
  private readonly logger = new Logger(ImagesService.name);

  constructor(
    @InjectRepository(Image) private readonly images: Repository<Image>,
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
    private readonly products: ProductsService,
    private readonly processor: ImageProcessor,
    private readonly gallery: GalleryService,
    private readonly presenter: ImagePresenter,
    private readonly deletions: StorageDeletionsService,
    private readonly dataSource: DataSource,
  ) {}

  /**
   * Checks, processes and stores an uploaded image, then records it. Nothing is left behind when
   * any step fails: files already written are deleted, and the row is never inserted.
   */
  async upload(ctx: RequestContext, ref: ProductRef, upload: ImageUpload): Promise<ImageDto> {
    const product = await this.products.find(ctx, ref);
    const derived = this.storage.derivesRenditions;
    const processed = await this.processor.process(upload.file.path, { renditions: !derived });
    const id = randomUUID();
    const owner = { productId: product.id };
    const written: string[] = [];
    try {
      const originalKey = imageObjectKey(owner, id, 'original', processed.original.extension);
      const original = await this.store(originalKey, processed.original, written);
      const renditions: Record<string, StoredRendition> = {};
      if (derived) {
        for (const { name, ...transform } of this.processor.presets) {
          renditions[name] = {
            key: originalKey,
            ...renditionSize(transform, original.width, original.height),
            format: 'auto',
            size: null,
            transform,
          };
        }
      }
      for (const [name, rendition] of Object.entries(processed.renditions)) {
        const key = imageObjectKey(owner, id, name, rendition.extension);
        await this.store(key, rendition, written);
        renditions[name] = {
          key,
          width: rendition.width,
          height: rendition.height,
          format: rendition.format,
          size: rendition.size,
        };
      }
      return await this.gallery.add(
        ctx,
        { id: product.id },
        {
          id,
          purpose: ImagePurpose.Product,
          title: upload.fields.title ?? '',
          altText: upload.fields.alt_text ?? '',
          originalFilename: upload.file.filename,
          ...this.describe(processed, original),
          storageKey: originalKey,
          renditions,
          uploadedById: ctx.principal.userId,
        },
        { isPrimary: upload.fields.is_primary, priority: upload.fields.priority },
      );
    } catch (error) {
      await this.deleteQuietly(written);
      throw error;
    }
  }

  async get(ctx: RequestContext, ref: ProductRef, imageId: string): Promise<ImageDto> {
    const product = await this.products.find(ctx, ref);
    const image = await this.images.findOneBy(ctx.scoped({ id: imageId, productId: product.id }));
    if (!image) throw new AppError('image_not_found', 'No image with this id on this product.');
    return this.presenter.one(image);
  }

  /** The original as stored; where the storage measured it (Cloudinary), its figures win. */
  private describe(processed: ProcessedImage, stored: StoredOriginal) {
    return {
      format: stored.format,
      mimeType: processed.original.mimeType,
      width: stored.width,
      height: stored.height,
      size: stored.size,
      sha256: processed.original.sha256,
      colorMode: processed.colorMode,
      hasAlpha: processed.hasAlpha,
    };
  }

  private async store(key: string, file: EncodedImage, written: string[]): Promise<StoredOriginal> {
    written.push(key);
    let stored: StoredObject;
    try {
      stored = await this.storage.put(key, file.buffer, {
        contentType: file.mimeType,
        ...deliveryHeaders(file.mimeType),
      });
    } catch (error) {
      this.logger.error({ err: safeError(error), key }, 'Storage write failed');
      throw new AppError('storage_unavailable', 'The image could not be stored; try again later.');
    }
    return {
      format: stored.format ?? file.format,
      width: stored.width ?? file.width,
      height: stored.height ?? file.height,
      size: stored.size,
    };
  }

  /** Files of a failed upload: deleted now, or queued for the background retry. */
  private async deleteQuietly(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    const ids = await this.deletions.enqueue(this.dataSource.manager, keys).catch(() => []);
    if (ids.length > 0) return this.deletions.attempt(ids);
    await Promise.allSettled(keys.map((key) => this.storage.delete(key)));
  }
}
