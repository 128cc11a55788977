import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `IDX_images_gallery_order` includes `priority`: its key has the priority only as an expression
 * (`-priority`, see 1796100000000-GalleryKeysetIndexAndImageCount), and PostgreSQL's planner reads
 * an index alone (an index-only scan) only when it holds every column a query names. A gallery
 * page by number (an OFFSET) now steps over the ids of the rows before it in display order, read
 * from this index alone where the table's pages are all-visible, instead of reading each of those
 * rows from the table (GalleryRepository.pageSql). The same key, so the same order and plans for
 * every other page. Built beside the old one, then renamed, so that galleries are never read
 * without it.
 */
export class GalleryOrderIncludesPriority1798200000000 implements MigrationInterface {
  name = 'GalleryOrderIncludesPriority1798200000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX "IDX_images_gallery_order_next" ON "images" ("product_id", "is_primary", (-"priority"), "created_at", "id") INCLUDE ("priority")`,
    );
    await queryRunner.query(`DROP INDEX "public"."IDX_images_gallery_order"`);
    await queryRunner.query(
      `ALTER INDEX "public"."IDX_images_gallery_order_next" RENAME TO "IDX_images_gallery_order"`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX "IDX_images_gallery_order_previous" ON "images" ("product_id", "is_primary", (-"priority"), "created_at", "id")`,
    );
    await queryRunner.query(`DROP INDEX "public"."IDX_images_gallery_order"`);
    await queryRunner.query(
      `ALTER INDEX "public"."IDX_images_gallery_order_previous" RENAME TO "IDX_images_gallery_order"`,
    );
  }
}
