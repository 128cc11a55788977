import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/** SQL: a key column without its extension (see keyStem). */
const STEM_OF = (column: string) => `regexp_replace(${column}, '\\.[a-z0-9]+$', '')`;

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** SQL: the image id a key is made from (see imageObjectKey), or null for other keys. */
const IMAGE_ID_OF = (column: string) =>
  `substring(${column} from '^(?:products/${UUID}|uploads)/(${UUID})/')::uuid`;
/** SQL: the image id of a transform result's key (`derived/<image>/…`), or null. */
const DERIVED_ID_OF = (column: string) => `substring(${column} from '^derived/(${UUID})/')::uuid`;

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

  /** Whether an imported image of another product holds the stem. */
  async isTakenByOther(manager: EntityManager, productId: string, stem: string): Promise<boolean> {
    const [taken] = await manager.query<unknown[]>(
      `SELECT 1 FROM images
        WHERE source = 'import' AND product_id <> $1 AND ${STEM_OF('storage_key')} = $2
       LIMIT 1`,
      [productId, stem],
    );
    return taken !== undefined;
  }

  /**
   * Those of `keys` that an image's row names, as its original or a rendition, compared by stem
   * (another extension is the same object on Cloudinary); a transform result's key
   * (`derived/<image>/…`) is held while its image exists. A key made from an image's id
   * (`products/<p>/<image>/…`, `uploads/<image>/…`) is looked up in that image's row, one index
   * read; any other key (the Ocha API's `products/<slug>.<ext>`) in every row, one scan for all of
   * them.
   */
  async heldKeys(manager: EntityManager, keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    // The scan of every row runs only when some key has no image id (a one-time filter).
    const rows = await manager.query<{ key: string }[]>(
      `WITH listed AS MATERIALIZED (
         SELECT key, ${STEM_OF('key')} AS stem, ${IMAGE_ID_OF('key')} AS image_id,
                ${DERIVED_ID_OF('key')} AS derived_id
           FROM unnest($1::text[]) AS key
       ),
       unresolved AS MATERIALIZED (
         SELECT key, stem FROM listed WHERE image_id IS NULL AND derived_id IS NULL
       )
       SELECT l.key FROM listed l JOIN images i ON i.id = l.image_id
        WHERE ${STEM_OF('i.storage_key')} = l.stem
           OR EXISTS (SELECT 1 FROM jsonb_each(i.renditions) r
                       WHERE ${STEM_OF("r.value->>'key'")} = l.stem)
       UNION
       SELECT l.key FROM listed l JOIN images i ON i.id = l.derived_id
       UNION
       SELECT u.key FROM unresolved u
         JOIN (SELECT ${STEM_OF('storage_key')} AS stem FROM images
                WHERE EXISTS (SELECT 1 FROM unresolved)
               UNION ALL
               SELECT ${STEM_OF("r.value->>'key'")} FROM images, jsonb_each(renditions) r
                WHERE EXISTS (SELECT 1 FROM unresolved)) held
           ON held.stem = u.stem`,
      [keys],
    );
    return new Set(rows.map((row) => row.key));
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
