import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { Image, type StoredRendition } from '../entities/image.entity';
import { NEXT_VERSION, Product } from '../../products/entities/product.entity';

/** What a rebuild reads of an image: its files, its size, the presets it was made with. */
export type RebuiltImage = Pick<
  Image,
  | 'id'
  | 'organizationId'
  | 'productId'
  | 'storageKey'
  | 'width'
  | 'height'
  | 'renditions'
  | 'renditionSet'
>;

const COLUMNS = `id, organization_id AS "organizationId", product_id AS "productId",
  storage_key AS "storageKey", width, height, renditions, rendition_set AS "renditionSet"`;

/**
 * Images as a rendition rebuild sees them: which differ from a presets' signature, a page of them
 * at a time, and the swap of one image's renditions for new ones. Methods that take an
 * EntityManager run in the caller's transaction.
 */
@Injectable()
export class ImageRenditionsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Whether any image's renditions were made with other presets than `renditionSet`, or with
   * presets not recorded: three probes of IDX_images_rendition_set, whatever the table's size.
   */
  async anyDiffers(
    renditionSet: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<boolean> {
    const [{ differs }] = await manager.query<{ differs: boolean }[]>(
      `SELECT EXISTS (SELECT 1 FROM images WHERE rendition_set IS NULL)
           OR EXISTS (SELECT 1 FROM images WHERE rendition_set < $1)
           OR EXISTS (SELECT 1 FROM images WHERE rendition_set > $1) AS differs`,
      [renditionSet],
    );
    return differs;
  }

  /** The next `limit` images after `cursor` (by id) whose presets differ from `renditionSet`. */
  differing(
    manager: EntityManager,
    renditionSet: string,
    cursor: string | null,
    limit: number,
  ): Promise<RebuiltImage[]> {
    return manager.query<RebuiltImage[]>(
      `SELECT ${COLUMNS} FROM images
        WHERE rendition_set IS DISTINCT FROM $1 AND ($2::uuid IS NULL OR id > $2)
        ORDER BY id LIMIT $3`,
      [renditionSet, cursor, limit],
    );
  }

  async find(id: string): Promise<RebuiltImage | null> {
    const rows = await this.dataSource.query<RebuiltImage[]>(
      `SELECT ${COLUMNS} FROM images WHERE id = $1`,
      [id],
    );
    return rows[0] ?? null;
  }

  /** Records `renditionSet` for images whose presets were not recorded (and still are not). */
  async markMadeWith(manager: EntityManager, ids: string[], renditionSet: string): Promise<void> {
    if (ids.length === 0) return;
    await manager.query(
      `UPDATE images SET rendition_set = $2 WHERE id = ANY($1::uuid[]) AND rendition_set IS NULL`,
      [ids, renditionSet],
    );
  }

  /**
   * Until the transaction ends, the gallery of `productId` cannot change: every gallery change
   * (and a product's deletion) locks the product row first, then reads the images whose files it
   * queues for deletion, so none of them reads renditions a swap is replacing. Locked for the
   * write of {@link bumpGallery} (not FOR SHARE: two swaps in one gallery would each hold the row
   * shared and wait for the other to write it).
   */
  async holdGallery(manager: EntityManager, productId: string): Promise<void> {
    await manager.query(`SELECT 1 FROM products WHERE id = $1 FOR NO KEY UPDATE`, [productId]);
  }

  /**
   * A new version for the gallery of `productId`, held by {@link holdGallery}: an image of it
   * has new rendition URLs, so the ETag a client holds for it names a gallery that is gone (its
   * old URLs, whose files are deleted after the swap).
   */
  async bumpGallery(manager: EntityManager, productId: string): Promise<void> {
    await manager
      .createQueryBuilder()
      .update(Product)
      .set({ galleryVersion: () => NEXT_VERSION })
      .where('id = :productId', { productId })
      .execute();
  }

  /**
   * Points the image at `renditions`, made with `renditionSet`, if it still exists, is still in
   * the same gallery (or none) and still names the renditions `image` read. Returns whether it did.
   */
  async swap(
    manager: EntityManager,
    image: RebuiltImage,
    renditions: Record<string, StoredRendition>,
    renditionSet: string,
  ): Promise<boolean> {
    const result = await manager
      .createQueryBuilder()
      .update(Image)
      .set({ renditions, renditionSet })
      .where('id = :id AND renditions = CAST(:read AS jsonb)', {
        id: image.id,
        read: JSON.stringify(image.renditions),
      })
      .andWhere('product_id IS NOT DISTINCT FROM CAST(:productId AS uuid)', {
        productId: image.productId,
      })
      .execute();
    const affected = result.affected ?? 0;
    return affected > 0;
  }
}
