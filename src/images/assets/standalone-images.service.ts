import { Inject, Injectable } from '@nestjs/common';
import { DataSource, In, type EntityManager, type SelectQueryBuilder } from 'typeorm';
import type { RequestContext } from '../../auth/principal';
import { AppError } from '../../common/errors/app.error';
import { decodeCursor, encodeCursor } from '../../common/pagination/cursor';
import { StorageDeletionsService } from '../../storage/storage-deletions.service';
import { STORAGE_PROVIDER, type StorageProvider } from '../../storage/storage-provider';
import {
  StandaloneImageDto,
  type ListStandaloneImagesQueryDto,
  type StandaloneImagePageDto,
  type UpdateStandaloneImageDto,
} from '../dto/standalone-image.dto';
import { Image, ImagePurpose } from '../entities/image.entity';
import { imageStorageKeys, imageUrls } from '../image-urls';

/** The key a stand-alone upload's original is stored under names its id (see imageObjectKey). */
const STANDALONE_KEY = /^uploads\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\//;

/** Not past its expiry (by the database's clock, as for the sweep and an attach). */
const ALIVE = '(expires_at IS NULL OR expires_at > now())';

/**
 * Stand-alone images as the organisation's assets (`/api/v1/images`): list, read, edit, delete.
 * An image in a gallery is not one of them (its gallery's routes serve it), and neither is an
 * upload past its `expires_at`, which is gone whether or not the sweep has run yet.
 */
@Injectable()
export class StandaloneImagesService {
  constructor(
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
    private readonly deletions: StorageDeletionsService,
    private readonly dataSource: DataSource,
  ) {}

  /**
   * Newest first, by keyset. Each purpose is read in order from IDX_images_standalone (at most a
   * page from each, a LATERAL join over the purposes), so a page costs the same however many
   * images the organisation has.
   */
  async list(
    ctx: RequestContext,
    query: ListStandaloneImagesQueryDto,
  ): Promise<StandaloneImagePageDto> {
    const params: unknown[] = [
      ctx.organizationId,
      query.purpose ? [query.purpose] : Object.values(ImagePurpose),
      query.limit + 1,
    ];
    const param = (value: unknown) => `$${params.push(value)}`;
    const filters: string[] = [];
    if (query.key !== undefined) {
      filters.push(`storage_key = ${param(query.key)}`);
      // The id in a stand-alone key makes it a primary-key read (the key check stays the rule).
      const id = STANDALONE_KEY.exec(query.key)?.[1];
      if (id) filters.push(`id = ${param(id)}`);
    }
    if (query.cursor) {
      const after = decodeCursor(query.cursor);
      filters.push(`(created_at, id) < (${param(after.createdAt)}, ${param(after.id)})`);
    }
    const found: { id: string; created_at: Date | string }[] = await this.dataSource.query(
      `SELECT i.id, i.created_at FROM unnest($2::varchar[]) AS p(purpose)
       CROSS JOIN LATERAL (
         SELECT id, created_at FROM images
          WHERE organization_id = $1 AND product_id IS NULL AND purpose = p.purpose
            AND ${ALIVE} ${filters.map((f) => `AND ${f}`).join(' ')}
          ORDER BY created_at DESC, id DESC
          LIMIT $3) AS i
       ORDER BY i.created_at DESC, i.id DESC
       LIMIT $3`,
      params,
    );
    const listed = found.slice(0, query.limit);
    const ids = listed.map((row) => row.id);
    const rows = ids.length > 0 ? await this.dataSource.manager.findBy(Image, { id: In(ids) }) : [];
    const byId = new Map(rows.map((image) => [image.id, image]));
    // In the listed order; one deleted in between is left out.
    const page = ids.flatMap((id) => byId.get(id) ?? []);
    const last = listed[listed.length - 1];
    return {
      items: await Promise.all(page.map((image) => this.present(image))),
      next_cursor:
        found.length > query.limit && last
          ? encodeCursor({ createdAt: new Date(last.created_at), id: last.id })
          : null,
    };
  }

  async get(ctx: RequestContext, imageId: string): Promise<StandaloneImageDto> {
    return this.present(await this.find(this.dataSource.manager, ctx, imageId));
  }

  /** Title, alt text and description; what is left out stays. */
  async update(
    ctx: RequestContext,
    imageId: string,
    dto: UpdateStandaloneImageDto,
  ): Promise<StandaloneImageDto> {
    const image = await this.dataSource.transaction(async (manager) => {
      // Locked, so an attach running now either comes first (then this is 404) or waits.
      const image = await this.find(manager, ctx, imageId, true);
      if (dto.title !== undefined) image.title = dto.title;
      if (dto.alt_text !== undefined) image.altText = dto.alt_text;
      if (dto.description !== undefined) image.description = dto.description;
      return manager.save(image);
    });
    return this.present(image);
  }

  /**
   * Deletes the row and queues its files for deletion in the same transaction, then deletes them,
   * retrying later whatever fails (as a gallery deletion does).
   */
  async remove(ctx: RequestContext, imageId: string): Promise<void> {
    const outbox = await this.dataSource.transaction(async (manager) => {
      const image = await this.find(manager, ctx, imageId, true);
      await manager.delete(Image, { id: image.id });
      return this.deletions.enqueue(manager, imageStorageKeys(image));
    });
    await this.deletions.attempt(outbox);
  }

  /** The organisation's stand-alone images that have not expired. */
  private assets(manager: EntityManager, ctx: RequestContext): SelectQueryBuilder<Image> {
    return manager
      .createQueryBuilder(Image, 'i')
      .where('i.organization_id = :organizationId', { organizationId: ctx.organizationId })
      .andWhere('i.product_id IS NULL')
      .andWhere(ALIVE);
  }

  private async find(
    manager: EntityManager,
    ctx: RequestContext,
    imageId: string,
    lock = false,
  ): Promise<Image> {
    const qb = this.assets(manager, ctx).andWhere('i.id = :imageId', { imageId });
    if (lock) qb.setLock('pessimistic_write');
    const image = await qb.getOne();
    if (!image) {
      throw new AppError(
        'image_not_found',
        'No stand-alone image with this id in your organisation.',
      );
    }
    return image;
  }

  private async present(image: Image): Promise<StandaloneImageDto> {
    return StandaloneImageDto.from(image, await imageUrls(image, this.storage));
  }
}
