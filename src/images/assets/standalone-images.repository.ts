import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { RequestContext } from '../../auth/principal';
import { decodeCursor } from '../../common/pagination/cursor';
import type { ListStandaloneImagesQueryDto } from '../dto/standalone-image.dto';
import { Image, ImagePurpose, type StoredRendition } from '../entities/image.entity';
import { uploaderStillThere } from '../image-uploaders.repository';

/** The key a stand-alone upload's original is stored under names its id (see imageObjectKey). */
const STANDALONE_KEY = /^uploads\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\//;

/**
 * Not past its expiry (by the database's clock, as for the sweep and an attach) when the statement
 * that checks starts, not when a transaction that may have waited for a lock since started.
 */
const ALIVE = '(expires_at IS NULL OR expires_at > statement_timestamp())';

/** A listed image's position in the keyset order (newest first). */
export interface ListedImage {
  id: string;
  created_at: Date | string;
}

/** The files of a deleted image. */
export type DeletedFiles = Pick<Image, 'id' | 'organizationId' | 'storageKey' | 'renditions'>;

/**
 * Stand-alone images (in no gallery) as rows: an organisation's assets, a new upload, and those
 * past their expiry. Methods that take an EntityManager run in the caller's transaction.
 */
@Injectable()
export class StandaloneImagesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Up to `query.limit + 1` images, newest first, by keyset. Each purpose is read in order from
   * IDX_images_standalone (at most a page from each, a LATERAL join over the purposes), so a page
   * costs the same however many images the organisation has.
   */
  listIds(ctx: RequestContext, query: ListStandaloneImagesQueryDto): Promise<ListedImage[]> {
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
      const after = decodeCursor(query.cursor, 'images');
      filters.push(`(created_at, id) < (${param(after.createdAt)}, ${param(after.id)})`);
    }
    return this.dataSource.query(
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
  }

  /**
   * The rows of these ids, in this order, that are still the organisation's stand-alone images:
   * one deleted, attached to a product or expired since {@link listIds} read it is left out (it
   * would be listed as an asset while `GET /images/{id}` answers 404).
   */
  async findInOrder(ctx: RequestContext, ids: string[]): Promise<Image[]> {
    const rows =
      ids.length === 0
        ? []
        : await this.dataSource.manager
            .createQueryBuilder(Image, 'i')
            .where('i.id IN (:...ids)', { ids })
            .andWhere('i.organization_id = :organizationId', {
              organizationId: ctx.organizationId,
            })
            .andWhere('i.product_id IS NULL')
            .andWhere(ALIVE)
            .getMany();
    const byId = new Map(rows.map((image) => [image.id, image]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  /** The organisation's stand-alone image that has not expired, locked if asked; or null. */
  findAlive(
    ctx: RequestContext,
    imageId: string,
    { manager = this.dataSource.manager, lock = false } = {},
  ): Promise<Image | null> {
    const qb = manager
      .createQueryBuilder(Image, 'i')
      .where('i.organization_id = :organizationId', { organizationId: ctx.organizationId })
      .andWhere('i.product_id IS NULL')
      .andWhere(ALIVE)
      .andWhere('i.id = :imageId', { imageId });
    if (lock) qb.setLock('pessimistic_write');
    return qb.getOne();
  }

  /**
   * Inserts a stand-alone image and reads it back (with what the database gave it). Its expiry is
   * by the database's clock, as the sweep's: exactly created_at + `expiresIn` seconds; its
   * uploader as {@link uploaderStillThere} finds them.
   */
  insert(image: Partial<Image>, expiresIn: number | undefined): Promise<Image> {
    return this.dataSource.transaction(async (manager) => {
      const uploadedById = await uploaderStillThere(manager, image.uploadedById);
      await manager
        .createQueryBuilder()
        .insert()
        .into(Image)
        .values({
          ...image,
          uploadedById,
          expiresAt:
            expiresIn === undefined ? null : () => 'now() + make_interval(secs => :expiresIn)',
        })
        .setParameter('expiresIn', expiresIn ?? null)
        .execute();
      return manager.findOneByOrFail(Image, { id: image.id });
    });
  }

  save(manager: EntityManager, image: Image): Promise<Image> {
    return manager.save(image);
  }

  async delete(manager: EntityManager, imageId: string): Promise<void> {
    await manager.delete(Image, { id: imageId });
  }

  /**
   * Deletes up to `limit` stand-alone uploads past their expiry, in one statement, skipping rows
   * another transaction holds (`FOR UPDATE SKIP LOCKED`: an attach under way); their files.
   */
  async deleteExpired(manager: EntityManager, limit: number): Promise<DeletedFiles[]> {
    const result = await manager
      .createQueryBuilder()
      .delete()
      .from(Image)
      .where(
        // IDX_images_expires_at holds exactly the rows with an expiry. The database's clock
        // decides at the moment of the check, as it does for an attach: this statement's start
        // (it waits for no lock), not the transaction's; stable, so the index bounds the scan
        // (clock_timestamp() could not).
        `id IN (SELECT id FROM images
                 WHERE expires_at IS NOT NULL AND expires_at <= statement_timestamp()
                   AND product_id IS NULL
                 ORDER BY expires_at LIMIT :limit
                 FOR UPDATE SKIP LOCKED)`,
        { limit },
      )
      .returning(['id', 'organizationId', 'storageKey', 'renditions'])
      .execute();
    const rows = result.raw as {
      id: string;
      organization_id: string;
      storage_key: string;
      renditions: Record<string, StoredRendition>;
    }[];
    return rows.map((row) => ({
      id: row.id,
      organizationId: row.organization_id,
      storageKey: row.storage_key,
      renditions: row.renditions,
    }));
  }
}
