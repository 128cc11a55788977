import { Inject, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, In, Repository, type EntityManager } from 'typeorm';
import type { RequestContext } from '../auth/principal';
import { AppError } from '../common/errors/app.error';
import { encodeShortId } from '../common/ids/short-id';
import { decodeCursor, encodeCursor } from '../common/pagination/cursor';
import { isUniqueViolation } from '../database/pg-errors';
import { Image } from '../images/entities/image.entity';
import { imageStorageKeys, imageUrls, type ImageSummary } from '../images/image-urls';
import { StorageDeletionsService } from '../storage/storage-deletions.service';
import { STORAGE_PROVIDER, type StorageProvider } from '../storage/storage-provider';
import {
  ProductDto,
  type CreateProductDto,
  type ListProductsQueryDto,
  type ProductPageDto,
  type UpdateProductDto,
} from './dto/product.dto';
import { Product } from './entities/product.entity';
import { parseExternalId } from './external-id';
import { normalizeGtin } from './gtin';
import { slugCandidate, slugify } from './slug';

/**
 * How a request names a product: by id, by GTIN (any of the four lengths), or by the caller's own
 * id for it (`external_id`, exactly).
 */
export type ProductRef = { id: string } | { gtin: string } | { externalId: string };

const MAX_SLUG_ATTEMPTS = 50;

export function parseGtin(value: string, field = 'gtin'): string {
  const gtin = normalizeGtin(value);
  if (!gtin) {
    throw new AppError(
      'invalid_gtin',
      'A GTIN has 8, 12, 13 or 14 digits and a valid check digit.',
      [{ field, message: 'must be a GTIN-8, -12, -13 or -14 with a valid check digit' }],
    );
  }
  return gtin;
}

@Injectable()
export class ProductsService {
  constructor(
    @InjectRepository(Product) private readonly products: Repository<Product>,
    @InjectRepository(Image) private readonly images: Repository<Image>,
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
    private readonly deletions: StorageDeletionsService,
    private readonly dataSource: DataSource,
  ) {}

  async create(ctx: RequestContext, dto: CreateProductDto): Promise<ProductDto> {
    const gtin = dto.gtin ? parseGtin(dto.gtin) : null;
    const base = dto.slug ?? slugify(dto.name);
    // An explicit slug must be free; a generated one takes the first free "name-n".
    for (let n = 1; n <= (dto.slug ? 1 : MAX_SLUG_ATTEMPTS); n++) {
      const slug = slugCandidate(base, n);
      try {
        const product = await this.products.save(
          this.products.create({
            organizationId: ctx.organizationId,
            name: dto.name,
            slug,
            gtin,
            externalId: dto.external_id ?? null,
            description: dto.description ?? '',
          }),
        );
        return ProductDto.from(product, null, 0);
      } catch (e) {
        this.throwIfTaken(e, !dto.slug);
      }
    }
    throw new AppError('slug_taken', 'No free slug could be made from this name; give one.');
  }

  async list(ctx: RequestContext, query: ListProductsQueryDto): Promise<ProductPageDto> {
    const qb = this.products
      .createQueryBuilder('p')
      .where('p.organization_id = :org', { org: ctx.organizationId })
      .orderBy('p.created_at', 'DESC')
      .addOrderBy('p.id', 'DESC')
      .take(query.limit + 1);
    if (query.slug !== undefined) qb.andWhere('p.slug = :slug', { slug: query.slug });
    if (query.gtin !== undefined) qb.andWhere('p.gtin = :gtin', { gtin: parseGtin(query.gtin) });
    if (query.external_id !== undefined) {
      qb.andWhere('p.external_id = :externalId', { externalId: query.external_id });
    }
    if (query.cursor) {
      const after = decodeCursor(query.cursor);
      qb.andWhere('(p.created_at, p.id) < (:createdAt, :id)', after);
    }
    const rows = await qb.getMany();
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      items: await this.present(page),
      next_cursor: rows.length > query.limit && last ? encodeCursor(last) : null,
    };
  }

  async get(ctx: RequestContext, ref: ProductRef): Promise<ProductDto> {
    const [dto] = await this.present([await this.find(ctx, ref)]);
    return dto;
  }

  async update(ctx: RequestContext, ref: ProductRef, dto: UpdateProductDto): Promise<ProductDto> {
    const product = await this.find(ctx, ref);
    if (dto.name !== undefined) product.name = dto.name;
    if (dto.slug !== undefined) product.slug = dto.slug;
    if (dto.gtin !== undefined) product.gtin = dto.gtin === null ? null : parseGtin(dto.gtin);
    if (dto.description !== undefined) product.description = dto.description;
    if (dto.external_id !== undefined) product.externalId = dto.external_id;
    try {
      await this.products.save(product);
    } catch (e) {
      this.throwIfTaken(e, false);
    }
    return this.get(ctx, { id: product.id });
  }

  /**
   * Deletes the product and its images, queueing their files for deletion in the same
   * transaction; then deletes the files, retrying later whatever fails.
   */
  async remove(ctx: RequestContext, ref: ProductRef): Promise<void> {
    const outbox = await this.dataSource.transaction(async (manager) => {
      const product = await this.lock(ctx, ref, manager);
      const images = await manager.findBy(Image, { productId: product.id });
      await manager.delete(Product, { id: product.id });
      return this.deletions.enqueue(
        manager,
        images.flatMap((image) => imageStorageKeys(image)),
      );
    });
    await this.deletions.attempt(outbox);
  }

  /** +1 on the gallery version, in the caller's transaction; returns the new version. */
  async bumpGalleryVersion(manager: EntityManager, productId: string): Promise<number> {
    const result = await manager
      .createQueryBuilder()
      .update(Product)
      .set({ galleryVersion: () => 'gallery_version + 1' })
      .where('id = :productId', { productId })
      .returning('gallery_version')
      .execute();
    return (result.raw as { gallery_version: number }[])[0].gallery_version;
  }

  /** The product, row-locked until the transaction ends: galleries change under this lock. */
  async lock(ctx: RequestContext, ref: ProductRef, manager: EntityManager): Promise<Product> {
    const product = await manager.findOne(Product, {
      where: ctx.scoped(this.where(ref)),
      lock: { mode: 'pessimistic_write' },
    });
    if (!product) throw this.notFound();
    return product;
  }

  async find(ctx: RequestContext, ref: ProductRef): Promise<Product> {
    const product = await this.products.findOneBy(ctx.scoped(this.where(ref)));
    if (!product) throw this.notFound();
    return product;
  }

  /**
   * Products with their primary image (and its URL as `image`) and image count, in two queries
   * for the whole page.
   */
  async present(products: Product[]): Promise<ProductDto[]> {
    if (products.length === 0) return [];
    const ids = products.map((p) => p.id);
    const primaries = await this.images.findBy({ productId: In(ids), isPrimary: true });
    const counts: { product_id: string; n: number }[] = await this.images
      .createQueryBuilder('i')
      .select('i.product_id', 'product_id')
      .addSelect('count(*)::int', 'n')
      .where('i.product_id IN (:...ids)', { ids })
      .groupBy('i.product_id')
      .getRawMany();
    const countOf = new Map(counts.map((c) => [c.product_id, c.n]));
    const primaryOf = new Map(primaries.map((i) => [i.productId, i]));
    return Promise.all(
      products.map(async (p) => {
        const primary = primaryOf.get(p.id);
        const summary = primary ? await this.summary(primary) : null;
        return ProductDto.from(p, summary, countOf.get(p.id) ?? 0);
      }),
    );
  }

  private async summary(image: Image): Promise<ImageSummary> {
    const urls = await imageUrls(image, this.storage);
    return {
      id: encodeShortId(image.id),
      url: urls.original,
      alt_text: image.altText,
      width: image.width,
      height: image.height,
      renditions: urls.renditions,
    };
  }

  private where(ref: ProductRef): { id: string } | { gtin: string } | { externalId: string } {
    if ('id' in ref) return { id: ref.id };
    if ('gtin' in ref) return { gtin: parseGtin(ref.gtin) };
    return { externalId: parseExternalId(ref.externalId) };
  }

  private notFound(): AppError {
    return new AppError(
      'product_not_found',
      'No product with this id, GTIN or external id in your organisation.',
    );
  }

  private throwIfTaken(e: unknown, retrySlug: boolean): void {
    if (isUniqueViolation(e, 'UQ_products_organization_gtin')) {
      throw new AppError('gtin_taken', 'Another product of your organisation has this GTIN.', [
        { field: 'gtin', message: 'is already in use' },
      ]);
    }
    if (isUniqueViolation(e, 'UQ_products_organization_external_id')) {
      throw new AppError(
        'external_id_taken',
        'Another product of your organisation has this external id.',
        [{ field: 'external_id', message: 'is already in use' }],
      );
    }
    if (isUniqueViolation(e, 'UQ_products_organization_slug')) {
      if (retrySlug) return;
      throw new AppError('slug_taken', 'Another product of your organisation has this slug.', [
        { field: 'slug', message: 'is already in use' },
      ]);
    }
    throw e;
  }
}
