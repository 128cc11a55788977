import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, Repository, type EntityManager } from 'typeorm';
import type { RequestContext } from '../auth/principal';
import { AppError } from '../common/errors/app.error';
import { decodeId } from '../common/ids/short-id';
import { safeError } from '../common/logging/safe-error';
import type { ProductDto } from '../products/dto/product.dto';
import type { Product } from '../products/entities/product.entity';
import { ProductsService, type ProductRef } from '../products/products.service';
import { StorageDeletionsService } from '../storage/storage-deletions.service';
import { imageObjectKey, importedImageKey, keyStem } from '../storage/storage-keys';
import {
  deliveryHeaders,
  STORAGE_PROVIDER,
  type PutOptions,
  type StorageProvider,
  type StoredObject,
} from '../storage/storage-provider';
import type { AttachImageDto } from './dto/gallery.dto';
import type { ImageDto } from './dto/image.dto';
import { StandaloneImageDto } from './dto/standalone-image.dto';
import type { StandaloneUploadFieldsDto } from './dto/upload-image.dto';
import { Image, ImagePurpose, ImageSource, type StoredRendition } from './entities/image.entity';
import { GalleryService } from './gallery/gallery.service';
import { ImagePresenter } from './image-presenter';
import {
  ImageProcessor,
  type EncodedImage,
  type ProcessedImage,
  type ProcessOptions,
} from './processing/image-processor';
import { imageUrls } from './image-urls';
import { ImageImportService } from './intake/import/image-import.service';
import type { ImageUpload } from './intake/multipart-upload';
import { renditionSize } from './processing/rendition-presets';

/** SQL: a key column without its extension (see keyStem). */
const STEM_OF = (column: string) => `regexp_replace(${column}, '\\.[a-z0-9]+$', '')`;

/** What `POST …/images` brings: a multipart upload, or a stand-alone upload to attach. */
export type GalleryAddition = { upload: ImageUpload } | { attach: AttachImageDto };

/** The Ocha API: imported images are 500×500, filled around their most interesting part. */
export const IMPORT_FILL = { width: 500, height: 500 };

/** What the storage holds of a new image, as recorded in its row. */
type StoredFiles = Pick<
  Image,
  | 'format'
  | 'mimeType'
  | 'width'
  | 'height'
  | 'size'
  | 'sha256'
  | 'colorMode'
  | 'hasAlpha'
  | 'storageKey'
  | 'renditions'
>;

interface StoredOriginal {
  format: string;
  width: number;
  height: number;
  size: number;
}

/**
 * Images in: gallery uploads, stand-alone uploads, attaching those, and the Ocha API's JSON import,
 * each all or nothing. Where an image goes in the gallery (primary, priority) is decided by
 * GalleryService, under the product's lock.
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
    private readonly importer: ImageImportService,
  ) {}

  /** `POST …/images`: uploads an image into the gallery, or attaches a stand-alone upload. */
  add(ctx: RequestContext, ref: ProductRef, addition: GalleryAddition): Promise<ImageDto> {
    return 'upload' in addition
      ? this.upload(ctx, ref, addition.upload)
      : this.attach(ctx, ref, addition.attach);
  }

  /**
   * Checks, processes and stores an uploaded image, then adds it to the gallery. Nothing is left
   * behind when any step fails: files already written are deleted, and the row is never inserted.
   */
  async upload(ctx: RequestContext, ref: ProductRef, upload: ImageUpload): Promise<ImageDto> {
    const product = await this.products.find(ctx, ref);
    const processed = await this.processor.process(upload.file.path, this.processing());
    const id = randomUUID();
    const written: string[] = [];
    try {
      const files = await this.storeFiles(processed, written, (variant, extension) =>
        imageObjectKey({ productId: product.id }, id, variant, extension),
      );
      return await this.gallery.add(
        ctx,
        { id: product.id },
        {
          ...this.record(ctx, id, files, upload.file.filename),
          title: upload.fields.title ?? '',
          altText: upload.fields.alt_text ?? '',
          description: upload.fields.description ?? '',
        },
        { isPrimary: upload.fields.is_primary, priority: upload.fields.priority },
      );
    } catch (error) {
      await this.deleteQuietly(written);
      throw error;
    }
  }

  /**
   * A stand-alone upload (Inventorum and the back-office uploader): checked, processed and stored
   * like a gallery upload, under `uploads/<id>/`, with no product. It is kept until deleted, or,
   * when `expires_in` is given (an upload-then-attach flow), until then unless it is attached to a
   * gallery first (purpose `product` only).
   */
  async uploadStandalone(
    ctx: RequestContext,
    upload: ImageUpload<StandaloneUploadFieldsDto>,
  ): Promise<StandaloneImageDto> {
    const processed = await this.processor.process(upload.file.path, this.processing());
    const id = randomUUID();
    const written: string[] = [];
    try {
      const files = await this.storeFiles(processed, written, (variant, extension) =>
        imageObjectKey({ productId: null }, id, variant, extension),
      );
      const image = await this.insertStandalone(
        ctx,
        this.record(ctx, id, files, upload.file.filename),
        upload.fields,
      );
      return StandaloneImageDto.from(image, await imageUrls(image, this.storage));
    } catch (error) {
      await this.deleteQuietly(written);
      throw error;
    }
  }

  /** Inserts a stand-alone image's row and reads it back (with what the database gave it). */
  private insertStandalone(
    ctx: RequestContext,
    record: ReturnType<ImagesService['record']>,
    fields: StandaloneUploadFieldsDto,
  ): Promise<Image> {
    return this.dataSource.transaction(async (manager) => {
      await manager
        .createQueryBuilder()
        .insert()
        .into(Image)
        .values({
          ...record,
          purpose: fields.purpose,
          title: fields.title ?? '',
          altText: fields.alt_text ?? '',
          description: fields.description ?? '',
          organizationId: ctx.organizationId,
          productId: null,
          isPrimary: false,
          priority: 0,
          // The database's clock, as the sweep's: exactly created_at + expires_in.
          expiresAt:
            fields.expires_in === undefined
              ? null
              : () => 'now() + make_interval(secs => :expiresIn)',
        })
        .setParameter('expiresIn', fields.expires_in ?? null)
        .execute();
      return manager.findOneByOrFail(Image, { id: record.id });
    });
  }

  /** Attaches a stand-alone upload to the gallery (JSON `POST …/images`). */
  async attach(ctx: RequestContext, ref: ProductRef, dto: AttachImageDto): Promise<ImageDto> {
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
    );
  }

  /**
   * The Ocha API: the product's image from JSON, a data URI or a URL. It is cropped to 500×500 around
   * its most interesting part, becomes the primary image and replaces the image imported before.
   * Where the storage purges caches on overwrite (Cloudinary), the original is stored as the Ocha
   * API does: in `products/` under the product's slug, overwriting; elsewhere under a new key.
   */
  async importPrimary(ctx: RequestContext, ref: ProductRef, source: string): Promise<ProductDto> {
    // Unknown products are refused before anything is fetched.
    const { id: productId } = await this.products.find(ctx, ref);
    return this.importer.withFile(source, async (file) => {
      const processed = await this.processor.process(file.path, {
        ...this.processing(),
        fill: IMPORT_FILL,
        declaredType: file.declaredType,
      });
      const id = randomUUID();
      const perImage = (variant: string, extension: string) =>
        imageObjectKey({ productId }, id, variant, extension);
      const written: string[] = [];
      let slugKey: string | undefined;
      try {
        // New keys are written before the gallery is locked, as uploads are; only the Ocha API's
        // stable key (Cloudinary) is claimed and written under the lock.
        const prestored = this.storage.invalidatesOnOverwrite
          ? undefined
          : await this.storeFiles(processed, written, perImage, IMPORT_FILL);
        await this.gallery.replaceImported(ctx, { id: productId }, async (product, manager) => {
          let files = prestored;
          if (!files) {
            const claimed = await this.claimSlugKey(manager, product, processed.original.extension);
            slugKey = claimed;
            files = await this.storeFiles(
              processed,
              written,
              (variant, extension) =>
                variant === 'original' ? claimed : perImage(variant, extension),
              IMPORT_FILL,
            );
          }
          return {
            ...this.record(ctx, id, files, file.filename),
            source: ImageSource.Import,
            title: '',
            altText: '',
          };
        });
      } catch (error) {
        await this.deleteQuietly(written.filter((key) => key !== slugKey));
        if (slugKey) await this.releaseSlugKey(slugKey);
        throw error;
      }
      return this.products.get(ctx, { id: productId });
    });
  }

  async get(ctx: RequestContext, ref: ProductRef, imageId: string): Promise<ImageDto> {
    const product = await this.products.find(ctx, ref);
    const image = await this.images.findOneBy(ctx.scoped({ id: imageId, productId: product.id }));
    if (!image) throw new AppError('image_not_found', 'No image with this id on this product.');
    return this.presenter.one(image);
  }

  private processing(): ProcessOptions {
    return { renditions: !this.storage.derivesRenditions };
  }

  /**
   * The Ocha API's key, `products/<slug>.<ext>`, unless another organisation's product holds it (slugs
   * are unique per organisation only) or a deletion of it is still queued: then the product's id
   * is added. Claimed under a transaction-scoped advisory lock on the slug, so two products with
   * the same slug cannot both take it.
   */
  private async claimSlugKey(
    manager: EntityManager,
    product: Product,
    extension: string,
  ): Promise<string> {
    const preferred = importedImageKey(product.slug, extension);
    const stem = keyStem(preferred);
    await this.lockKeyStem(manager, stem);
    const [taken] = await manager.query<unknown[]>(
      `SELECT 1 FROM images
        WHERE source = 'import' AND product_id <> $1 AND ${STEM_OF('storage_key')} = $2
       UNION ALL
       SELECT 1 FROM storage_deletions WHERE ${STEM_OF('key')} = $2
       LIMIT 1`,
      [product.id, stem],
    );
    return taken ? importedImageKey(product.slug, extension, product.id) : preferred;
  }

  /**
   * After a failed import, the Ocha API's stable key is deleted only if no image holds it: the
   * previous import of the product, whose object was overwritten in place, keeps it (better the
   * new bytes than none), and so does a product that claimed it since our transaction ended.
   * Decided under the key's lock, so no claim can slip in between.
   */
  private async releaseSlugKey(key: string): Promise<void> {
    const stem = keyStem(key);
    const outbox = await this.dataSource
      .transaction(async (manager) => {
        await this.lockKeyStem(manager, stem);
        const [held] = await manager.query<unknown[]>(
          `SELECT 1 FROM images WHERE source = 'import' AND ${STEM_OF('storage_key')} = $1 LIMIT 1`,
          [stem],
        );
        return held ? [] : this.deletions.enqueue(manager, [key]);
      })
      .catch((error: unknown) => {
        this.logger.error({ err: safeError(error), key }, 'Could not queue a failed import');
        return [];
      });
    await this.deletions.attempt(outbox);
  }

  /** Serialises everything that claims or releases one stable key, until the transaction ends. */
  private async lockKeyStem(manager: EntityManager, stem: string): Promise<void> {
    await manager.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`imported-image:${stem}`]);
  }

  /** The row of a newly stored image, less what its owner (gallery or not) decides. */
  private record(ctx: RequestContext, id: string, files: StoredFiles, filename: string) {
    return {
      id,
      source: ImageSource.Upload,
      purpose: ImagePurpose.Product,
      title: '',
      altText: '',
      originalFilename: filename,
      ...files,
      uploadedById: ctx.principal.userId,
    };
  }

  /**
   * Stores the original and its renditions under the keys `keyOf` gives (each added to `written`
   * before it is written), or, where the storage derives renditions, records them as
   * transformations of the original. Where the storage measured the original (Cloudinary), its
   * figures win.
   */
  private async storeFiles(
    processed: ProcessedImage,
    written: string[],
    keyOf: (variant: string, extension: string) => string,
    fill?: PutOptions['fill'],
  ): Promise<StoredFiles> {
    const storageKey = keyOf('original', processed.original.extension);
    const original = await this.store(storageKey, processed.original, written, fill);
    const renditions: Record<string, StoredRendition> = {};
    if (this.storage.derivesRenditions) {
      for (const { name, ...transform } of this.processor.presets) {
        renditions[name] = {
          key: storageKey,
          ...renditionSize(transform, original.width, original.height),
          format: 'auto',
          size: null,
          transform,
        };
      }
    }
    for (const [name, rendition] of Object.entries(processed.renditions)) {
      const key = keyOf(name, rendition.extension);
      await this.store(key, rendition, written);
      renditions[name] = {
        key,
        width: rendition.width,
        height: rendition.height,
        format: rendition.format,
        size: rendition.size,
      };
    }
    return {
      format: original.format,
      mimeType: processed.original.mimeType,
      width: original.width,
      height: original.height,
      size: original.size,
      sha256: processed.original.sha256,
      colorMode: processed.colorMode,
      hasAlpha: processed.hasAlpha,
      storageKey,
      renditions,
    };
  }

  private async store(
    key: string,
    file: EncodedImage,
    written: string[],
    fill?: PutOptions['fill'],
  ): Promise<StoredOriginal> {
    written.push(key);
    let stored: StoredObject;
    try {
      stored = await this.storage.put(key, file.buffer, {
        contentType: file.mimeType,
        ...deliveryHeaders(file.mimeType),
        ...(fill ? { fill } : {}),
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
