import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import { User } from '../auth/entities/user.entity';
import type { RequestContext } from '../auth/principal';
import { AppError } from '../common/errors/app.error';
import { encodeShortId } from '../common/ids/short-id';
import { safeError } from '../common/logging/safe-error';
import { ProductsService, type ProductRef } from '../products/products.service';
import { imageObjectKey } from '../storage/storage-keys';
import {
  IMMUTABLE_CACHE_CONTROL,
  STORAGE_PROVIDER,
  type StorageProvider,
} from '../storage/storage-provider';
import { ImageDto, type UploaderDto } from './dto/image.dto';
import { Image, ImagePurpose, type StoredRendition } from './entities/image.entity';
import { ImageProcessor, type EncodedImage, type ProcessedImage } from './image-processor';
import type { ImageUpload } from './multipart-upload';

/**
 * Product images: upload (all or nothing) and read. Gallery rules that involve more than one
 * image (one primary, order) are applied here, under a lock on the product row.
 */
@Injectable()
export class ImagesService {
  private readonly logger = new Logger(ImagesService.name);

  constructor(
    @InjectRepository(Image) private readonly images: Repository<Image>,
    @InjectRepository(User) private readonly users: Repository<User>,
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
    private readonly products: ProductsService,
    private readonly processor: ImageProcessor,
    private readonly dataSource: DataSource,
  ) {}

  /**
   * Checks, processes and stores an uploaded image, then records it. Nothing is left behind when
   * any step fails: files already written are deleted, and the row is never inserted.
   */
  async upload(ctx: RequestContext, ref: ProductRef, upload: ImageUpload): Promise<ImageDto> {
    const product = await this.products.find(ctx, ref);
    const processed = await this.processor.process(upload.file.path);
    const id = randomUUID();
    const owner = { productId: product.id };
    const written: string[] = [];
    try {
      const original = await this.store(
        imageObjectKey(owner, id, 'original', processed.original.extension),
        processed.original,
        written,
      );
      const renditions: Record<string, StoredRendition> = {};
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
      const image = await this.dataSource.transaction(async (manager) => {
        // Serialises every change to this product's gallery (and fails if it was deleted).
        await this.products.lock(ctx, { id: product.id }, manager);
        const { count, maxPriority } = await manager
          .createQueryBuilder(Image, 'i')
          .select('count(*)::int', 'count')
          .addSelect('max(i.priority)', 'maxPriority')
          .where('i.product_id = :productId', { productId: product.id })
          .getRawOne<{ count: number; maxPriority: number | null }>()
          .then((r) => r ?? { count: 0, maxPriority: null });
        // The first image of a product is its primary; a new primary demotes the old one.
        const isPrimary = upload.fields.is_primary === true || count === 0;
        if (isPrimary && count > 0) {
          await manager.update(
            Image,
            { productId: product.id, isPrimary: true },
            { isPrimary: false },
          );
        }
        return manager.save(
          manager.create(Image, {
            id,
            organizationId: ctx.organizationId,
            productId: product.id,
            purpose: ImagePurpose.Product,
            title: upload.fields.title ?? '',
            altText: upload.fields.alt_text ?? '',
            isPrimary,
            priority: upload.fields.priority ?? (maxPriority === null ? 0 : maxPriority + 1),
            originalFilename: upload.file.filename,
            ...this.describe(processed),
            storageKey: original,
            renditions,
            uploadedById: ctx.principal.userId,
          }),
        );
      });
      return ImageDto.from(image, this.storage, await this.uploader(image.uploadedById));
    } catch (error) {
      await this.deleteQuietly(written);
      throw error;
    }
  }

  async get(ctx: RequestContext, ref: ProductRef, imageId: string): Promise<ImageDto> {
    const product = await this.products.find(ctx, ref);
    const image = await this.images.findOneBy(ctx.scoped({ id: imageId, productId: product.id }));
    if (!image) throw new AppError('image_not_found', 'No image with this id on this product.');
    return ImageDto.from(image, this.storage, await this.uploader(image.uploadedById));
  }

  private describe(processed: ProcessedImage) {
    const { original } = processed;
    return {
      format: original.format,
      mimeType: original.mimeType,
      width: original.width,
      height: original.height,
      size: original.size,
      sha256: original.sha256,
      colorMode: processed.colorMode,
      hasAlpha: processed.hasAlpha,
    };
  }

  private async store(key: string, file: EncodedImage, written: string[]): Promise<string> {
    written.push(key);
    try {
      await this.storage.put(key, file.buffer, {
        contentType: file.mimeType,
        cacheControl: IMMUTABLE_CACHE_CONTROL,
        // An SVG opened directly must not run as a document of our origin.
        contentDisposition: file.format === 'svg' ? 'attachment' : undefined,
      });
    } catch (error) {
      this.logger.error({ err: safeError(error), key }, 'Storage write failed');
      throw new AppError('storage_unavailable', 'The image could not be stored; try again later.');
    }
    return key;
  }

  private async deleteQuietly(keys: string[]): Promise<void> {
    const results = await Promise.allSettled(keys.map((key) => this.storage.delete(key)));
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length > 0) this.logger.error({ keys }, 'Could not remove files of a failed upload');
  }

  private async uploader(userId: string | null): Promise<UploaderDto | null> {
    if (!userId) return null;
    const user = await this.users.findOneBy({ id: userId });
    return user
      ? { id: encodeShortId(user.id), username: user.username, full_name: user.fullName }
      : null;
  }
}
