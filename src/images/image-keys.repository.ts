import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/** SQL: a key column without its extension (see keyStem). */
const STEM_OF = (column: string) => `regexp_replace(${column}, '\\.[a-z0-9]+$', '')`;

/**
 * Who holds a stable storage key (the Ocha API's `products/<slug>.<ext>`, see ImageFilesService),
 * compared by stem: the same key under another extension is the same object on Cloudinary.
 */
@Injectable()
export class ImageKeysRepository {
  /** Serialises everything that claims or releases one stable key, until the transaction ends. */
  async lockStem(manager: EntityManager, stem: string): Promise<void> {
    await manager.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`imported-image:${stem}`]);
  }

  /** Whether an imported image of another product, or a queued deletion, holds the stem. */
  async isTakenByOther(manager: EntityManager, productId: string, stem: string): Promise<boolean> {
    const [taken] = await manager.query<unknown[]>(
      `SELECT 1 FROM images
        WHERE source = 'import' AND product_id <> $1 AND ${STEM_OF('storage_key')} = $2
       UNION ALL
       SELECT 1 FROM storage_deletions WHERE ${STEM_OF('key')} = $2
       LIMIT 1`,
      [productId, stem],
    );
    return taken !== undefined;
  }

  /** Whether any imported image holds the stem. */
  async isHeld(manager: EntityManager, stem: string): Promise<boolean> {
    const [held] = await manager.query<unknown[]>(
      `SELECT 1 FROM images WHERE source = 'import' AND ${STEM_OF('storage_key')} = $1 LIMIT 1`,
      [stem],
    );
    return held !== undefined;
  }
}
