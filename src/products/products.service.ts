import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { credentialGoneMeanwhile } from '../auth/challenge';
import type { RequestContext } from '../auth/principal';
import { Scope } from '../auth/roles';
import { authorise } from '../auth/route-access';
import { AppError } from '../common/errors/app.error';
import { decodeCursor, encodeCursor } from '../common/pagination/cursor';
import { isForeignKeyViolation, isUniqueViolation } from '../database/pg-errors';
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
import { ProductImagesPort } from './product-images.port';
import { ProductsRepository, type ProductColumns, type ProductKey } from './products.repository';
import { randomSlugCandidate, slugCandidate, slugify } from './slug';

/**
 * How a request names a product: by id, by GTIN (any of the four lengths), or by the caller's own
 * id for it (`external_id`, exactly).
 */
export type ProductRef = { id: string } | { gtin: string } | { externalId: string };

/** How many numbered alternatives of a generated slug are tried ("mug-2" … "mug-50"). */
const MAX_SLUG_ATTEMPTS = 50;
/** Then how many random ones ("mug-k3v9qz0"): a name never keeps a product from being made. */
const RANDOM_SLUG_ATTEMPTS = 3;

function numberedSlugs(base: string): string[] {
  return Array.from({ length: MAX_SLUG_ATTEMPTS }, (_, i) => slugCandidate(base, i + 1));
}

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
    private readonly products: ProductsRepository,
    private readonly images: ProductImagesPort,
    private readonly dataSource: DataSource,
  ) {}

  async create(ctx: RequestContext, dto: CreateProductDto): Promise<ProductDto> {
    // As update reads it: null or left out is none; any string, "" included, must be a GTIN.
    const gtin = dto.gtin == null ? null : parseGtin(dto.gtin);
    // An explicit slug must be free; a generated one takes the first free "name-n", and past
    // those (a name many products share) one with a random suffix.
    const candidates = dto.slug ? [dto.slug] : await this.freeSlugs(ctx, slugify(dto.name));
    for (const slug of candidates) {
      try {
        const product = await this.products.insert({
          organizationId: ctx.organizationId,
          name: dto.name,
          slug,
          gtin,
          externalId: dto.external_id ?? null,
          description: dto.description ?? '',
        });
        return ProductDto.from(product, null, 0);
      } catch (e) {
        // The organisation was deleted (delete-organization) while a cache (another instance's
        // copy of an API key's row, for 5 seconds) still admitted its credential: the 401 that
        // credential gets from now on, not a 500 from the foreign key.
        if (isForeignKeyViolation(e, 'FK_products_organization')) {
          throw credentialGoneMeanwhile(ctx.principal.type);
        }
        this.throwIfTaken(e, !dto.slug);
      }
    }
    throw new AppError('slug_taken', 'No free slug could be made from this name; give one.');
  }

  /**
   * The generated slugs to try, in order: the numbered ones not taken when asked (one query, not
   * an INSERT failing for each product already called so), then random ones. A slug taken between
   * the query and the INSERT is still caught by the INSERT's unique violation.
   */
  private async freeSlugs(ctx: RequestContext, base: string): Promise<string[]> {
    const numbered = numberedSlugs(base);
    const taken = await this.products.takenSlugs(ctx.organizationId, numbered);
    const random = Array.from({ length: RANDOM_SLUG_ATTEMPTS }, () => randomSlugCandidate(base));
    return [...numbered.filter((slug) => !taken.has(slug)), ...random];
  }

  async list(ctx: RequestContext, query: ListProductsQueryDto): Promise<ProductPageDto> {
    // The GTIN is checked before the cursor, as it always has been: the first error wins.
    const gtin = query.gtin === undefined ? undefined : parseGtin(query.gtin);
    const rows = await this.products.page({
      organizationId: ctx.organizationId,
      slug: query.slug,
      gtin,
      externalId: query.external_id,
      after: query.cursor ? decodeCursor(query.cursor, 'products') : undefined,
      take: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      items: await this.present(page),
      next_cursor: rows.length > query.limit && last ? encodeCursor(last, 'products') : null,
    };
  }

  async get(ctx: RequestContext, ref: ProductRef): Promise<ProductDto> {
    const [dto] = await this.present([await this.find(ctx, ref)]);
    // Deleted between the two reads: as gone as if the delete had come first.
    if (!dto) throw this.notFound();
    return dto;
  }

  /**
   * Changes the fields given, if the product is at a version `expected` names (its If-Match;
   * 412 product_changed if not; any version when undefined).
   */
  async update(
    ctx: RequestContext,
    ref: ProductRef,
    dto: UpdateProductDto,
    expected?: number[],
  ): Promise<ProductDto> {
    // An unknown product is refused before the body's fields are checked against it.
    await this.find(ctx, ref);
    const columns: ProductColumns = {};
    if (dto.name !== undefined) columns.name = dto.name;
    if (dto.slug !== undefined) columns.slug = dto.slug;
    if (dto.gtin !== undefined) columns.gtin = dto.gtin === null ? null : parseGtin(dto.gtin);
    if (dto.description !== undefined) columns.description = dto.description;
    if (dto.external_id !== undefined) columns.externalId = dto.external_id;
    let result: Awaited<ReturnType<ProductsRepository['update']>> = null;
    try {
      // By the reference, not the id found above: a GTIN or external id that moved to another
      // product meanwhile changes that one (or, with If-Match, is 412), never the one it left.
      result = await this.products.update(this.keyOf(ctx, ref), columns, expected);
    } catch (e) {
      this.throwIfTaken(e, false);
    }
    if (!result) throw this.notFound();
    if (result.changed) throw this.changed(result.version);
    return this.get(ctx, { id: result.id });
  }

  /**
   * Deletes the product and its images if it is at a version `expected` names (as `update`),
   * queueing their files for deletion in the same
   * transaction (images' part, through the port); then deletes the files, retrying later
   * whatever fails.
   */
  async remove(ctx: RequestContext, ref: ProductRef, expected?: number[]): Promise<void> {
    const afterCommit = await this.dataSource.transaction(async (manager) => {
      const product = await this.lock(ctx, ref, manager);
      // Its images go with it: a key that may not delete images may not delete them this way.
      // Before If-Match: a precondition counts only where the request would otherwise succeed
      // (RFC 9110 §13.2.1), so a key refused is 403 whatever version it names.
      if (product.imageCount > 0) {
        authorise(ctx.principal, { public: false, scopes: [Scope.ImagesWrite] });
      }
      if (expected && !expected.includes(product.version)) throw this.changed(product.version);
      const release = await this.images.releaseOnDelete(manager, product);
      await this.products.delete(manager, product.id);
      return release;
    });
    await afterCommit();
  }

  /**
   * +1 on the gallery version, and `imageCountDelta` on the product's image count (the images
   * the change added minus those it removed), in one UPDATE in the caller's transaction (the one
   * holding the product's lock); returns the new version.
   */
  async bumpGalleryVersion(
    manager: EntityManager,
    productId: string,
    imageCountDelta = 0,
  ): Promise<number> {
    const { version } = await this.products.bumpGalleryVersion(manager, productId, imageCountDelta);
    return version;
  }

  /** The product, row-locked until the transaction ends: galleries change under this lock. */
  async lock(ctx: RequestContext, ref: ProductRef, manager: EntityManager): Promise<Product> {
    const product = await this.products.lockOne(manager, this.keyOf(ctx, ref));
    if (!product) throw this.notFound();
    return product;
  }

  // `find` returns the entity (for other services); `get` the response DTO (for the API).
  async find(ctx: RequestContext, ref: ProductRef): Promise<Product> {
    const product = await this.products.findOne(this.keyOf(ctx, ref));
    if (!product) throw this.notFound();
    return product;
  }

  /**
   * Products with their primary image (and its URL as `image`) and their kept image count; those
   * deleted since they were read are left out (not shown with no images).
   */
  private async present(products: Product[]): Promise<ProductDto[]> {
    const images = await this.images.of(products);
    return products.flatMap((p) => {
      const found = images.get(p.id);
      return found ? [ProductDto.from(p, found.primary, found.count)] : [];
    });
  }

  private keyOf(ctx: RequestContext, ref: ProductRef): ProductKey {
    if ('id' in ref) return ctx.scoped({ id: ref.id });
    if ('gtin' in ref) return ctx.scoped({ gtin: parseGtin(ref.gtin) });
    return ctx.scoped({ externalId: parseExternalId(ref.externalId) });
  }

  private notFound(): AppError {
    return new AppError(
      'product_not_found',
      'No product with this id, GTIN or external id in your organisation.',
    );
  }

  private changed(currentVersion: number): AppError {
    return new AppError(
      'product_changed',
      'The product changed since the version your If-Match names: read it again, then retry.',
      [],
      {},
      { current_version: currentVersion },
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
