import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Image } from '../images/entities/image.entity';
import { NEXT_VERSION } from '../products/entities/product.entity';

/** What a deleted image's files are named by: the columns ImageFilesService.keysOf reads. */
export type DeletedImage = Pick<Image, 'id' | 'storageKey' | 'renditions'>;

/** The images' columns that name their files, as {@link DeletedImage}. */
const IMAGE_FILES = `id, storage_key AS "storageKey", renditions`;

/**
 * SQL of an organisation's deletion (organization-deletion.service.ts), each statement bounded:
 * a batch of products (by the images they hold), of stand-alone images, of imports or of
 * idempotency keys at a time, never every row of the organisation at once.
 */
@Injectable()
export class OrganizationDeletionRepository {
  async findBySlug(manager: EntityManager, slug: string): Promise<{ id: string } | undefined> {
    const [found] = await manager.query<{ id: string }[]>(
      'SELECT id FROM organizations WHERE slug = $1',
      [slug],
    );
    return found;
  }

  /**
   * Marks the organisation as being deleted by this session (a session-level advisory lock, let
   * go by {@link unmarkDeleting} or when the session ends, a crash included). False when another
   * session holds it: another run is deleting the organisation.
   */
  async markDeleting(manager: EntityManager, id: string): Promise<boolean> {
    const [{ locked }] = await manager.query<{ locked: boolean }[]>(
      'SELECT pg_try_advisory_lock(hashtext($1)) AS locked',
      [`organization-deletion:${id}`],
    );
    return locked;
  }

  async unmarkDeleting(manager: EntityManager, id: string): Promise<void> {
    await manager.query('SELECT pg_advisory_unlock(hashtext($1))', [`organization-deletion:${id}`]);
  }

  /**
   * Locks the organisation's row until the transaction ends, after every transaction still
   * inserting a row that references it (each holds a key-share lock on it) has ended; none can
   * start another then. False when it is gone (deleted meanwhile).
   */
  async lock(manager: EntityManager, id: string): Promise<boolean> {
    const rows = await manager.query<unknown[]>(
      'SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE',
      [id],
    );
    return rows.length > 0;
  }

  /** Its API keys go (revoked, everywhere once other instances' short cache lapses). */
  async deleteApiKeys(manager: EntityManager, id: string): Promise<number> {
    return this.countDeleted(manager, 'DELETE FROM api_keys WHERE organization_id = $1', [id]);
  }

  /**
   * Its users are disabled: their tokens stop working at once. They are deleted last, once their
   * images are gone (a user's deletion clears the uploader of each of their images).
   */
  async disableUsers(manager: EntityManager, id: string): Promise<void> {
    await manager.query(
      'UPDATE users SET disabled = true WHERE organization_id = $1 AND NOT disabled',
      [id],
    );
  }

  async deleteUsers(manager: EntityManager, id: string): Promise<number> {
    return this.countDeleted(manager, 'DELETE FROM users WHERE organization_id = $1', [id]);
  }

  /**
   * The next products (in the order of their organisation's index), as many as hold about
   * `images` images together (at most `images` products), locked, and with them their images,
   * deleted. A first product holding more than `images` images loses `images` of them only (its
   * primary last), its image count and gallery version kept: it goes whole in a later batch, so
   * that no transaction deletes much more than `images` images, however large one gallery is.
   * Returns the products deleted and the images deleted.
   */
  async deleteProductBatch(
    manager: EntityManager,
    id: string,
    images: number,
  ): Promise<{ products: number; images: DeletedImage[] }> {
    const picked = await manager.query<{ id: string }[]>(
      `SELECT id FROM (
         SELECT id, image_count, sum(image_count) OVER (ORDER BY created_at, id) AS upto
           FROM products WHERE organization_id = $1
          ORDER BY created_at, id LIMIT $2) AS p
        WHERE upto - image_count < $2`,
      [id, images],
    );
    if (picked.length === 0) return { products: 0, images: [] };
    // Products before their images, as every gallery change locks them.
    const locked = await manager.query<{ id: string; image_count: number }[]>(
      'SELECT id, image_count FROM products WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE',
      [picked.map((p) => p.id)],
    );
    if (locked.length === 1 && locked[0].image_count > images) {
      const gone = await this.deleteSomeImagesOf(manager, locked[0].id, images);
      // All of them gone (a count that had drifted): the product goes in this batch too.
      if (gone.length === images) return { products: 0, images: gone };
      const rest = await this.deleteProducts(manager, [locked[0].id]);
      return { products: rest.products, images: [...gone, ...rest.images] };
    }
    return this.deleteProducts(
      manager,
      locked.map((p) => p.id),
    );
  }

  /** Up to `limit` images of a locked product, its primary last, the gallery kept consistent. */
  private async deleteSomeImagesOf(
    manager: EntityManager,
    productId: string,
    limit: number,
  ): Promise<DeletedImage[]> {
    const gone = await manager.query<DeletedImage[]>(
      `WITH gone AS (
         DELETE FROM images WHERE id IN (
           SELECT id FROM images WHERE product_id = $1 ORDER BY is_primary, id LIMIT $2)
         RETURNING ${IMAGE_FILES})
       SELECT * FROM gone`,
      [productId, limit],
    );
    await manager.query(
      `UPDATE products SET image_count = GREATEST(image_count - $2, 0),
                           gallery_version = ${NEXT_VERSION}
        WHERE id = $1`,
      [productId, gone.length],
    );
    return gone;
  }

  /** Locked products, their images first. */
  private async deleteProducts(
    manager: EntityManager,
    ids: string[],
  ): Promise<{ products: number; images: DeletedImage[] }> {
    const gone = await manager.query<DeletedImage[]>(
      `WITH gone AS (DELETE FROM images WHERE product_id = ANY($1::uuid[]) RETURNING ${IMAGE_FILES})
       SELECT * FROM gone`,
      [ids],
    );
    const products = await this.countDeleted(
      manager,
      'DELETE FROM products WHERE id = ANY($1::uuid[])',
      [ids],
    );
    return { products, images: gone };
  }

  /** Up to `limit` of its stand-alone images (no product), deleted. */
  deleteStandaloneBatch(
    manager: EntityManager,
    id: string,
    limit: number,
  ): Promise<DeletedImage[]> {
    return manager.query<DeletedImage[]>(
      `WITH gone AS (
         DELETE FROM images WHERE id IN (
           SELECT id FROM images WHERE organization_id = $1 AND product_id IS NULL
            LIMIT $2 FOR UPDATE)
         RETURNING ${IMAGE_FILES})
       SELECT * FROM gone`,
      [id, limit],
    );
  }

  /** Up to `limit` of its bulk imports, with their rows. */
  deleteImportBatch(manager: EntityManager, id: string, limit: number): Promise<number> {
    return this.countDeleted(
      manager,
      `DELETE FROM imports WHERE id IN (
         SELECT id FROM imports WHERE organization_id = $1 LIMIT $2 FOR UPDATE)`,
      [id, limit],
    );
  }

  /** Up to `limit` of the Idempotency-Keys its users and keys sent (no foreign key names it). */
  deleteIdempotencyKeyBatch(manager: EntityManager, id: string, limit: number): Promise<number> {
    return this.countDeleted(
      manager,
      `DELETE FROM idempotency_keys
        WHERE (organization_id, principal_type, principal_id, key) IN (
          SELECT organization_id, principal_type, principal_id, key FROM idempotency_keys
           WHERE organization_id = $1 LIMIT $2 FOR UPDATE)`,
      [id, limit],
    );
  }

  /** The organisation's row; whatever still references it goes with it (ON DELETE CASCADE). */
  async deleteOrganization(manager: EntityManager, id: string): Promise<void> {
    await manager.query('DELETE FROM organizations WHERE id = $1', [id]);
  }

  /** A DELETE's row count, read as a SELECT's so that every driver answers alike. */
  private async countDeleted(
    manager: EntityManager,
    sql: string,
    parameters: unknown[],
  ): Promise<number> {
    const [{ deleted }] = await manager.query<{ deleted: number }[]>(
      `WITH gone AS (${sql} RETURNING 1) SELECT count(*)::int AS deleted FROM gone`,
      parameters,
    );
    return deleted;
  }
}
