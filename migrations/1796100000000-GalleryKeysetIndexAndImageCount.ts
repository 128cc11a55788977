import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The read paths of galleries and product lists (issue 17):
 * - `IDX_images_gallery_order` becomes an index in exactly the gallery's display order, read
 *   backwards: `is_primary DESC, priority ASC, created_at DESC, id DESC` is
 *   `(is_primary, -priority, created_at, id)` descending, one direction for every column, so a
 *   page at any depth (after a keyset cursor, one row comparison) is a bounded index scan, with no
 *   sort. The negated priority is an expression, which the entity cannot declare: the entity
 *   names the index with `synchronize: false`, and this migration owns its definition.
 * - products gain `image_count`, kept by every gallery change in the transaction that bumps
 *   `gallery_version` (the same UPDATE), so that neither a gallery page's total nor a product
 *   list counts rows per request. Existing products are counted once here.
 */
export class GalleryKeysetIndexAndImageCount1796100000000 implements MigrationInterface {
  name = 'GalleryKeysetIndexAndImageCount1796100000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."IDX_images_gallery_order"`);
    await queryRunner.query(
      `CREATE INDEX "IDX_images_gallery_order" ON "images" ("product_id", "is_primary", (-"priority"), "created_at", "id")`,
    );
    await queryRunner.query(
      `ALTER TABLE "products" ADD "image_count" integer NOT NULL DEFAULT '0'`,
    );
    await queryRunner.query(
      `ALTER TABLE "products" ADD CONSTRAINT "CHK_products_image_count" CHECK ("image_count" >= 0)`,
    );
    await queryRunner.query(
      `UPDATE "products" p SET "image_count" = c."n"
         FROM (SELECT "product_id", count(*)::int AS "n" FROM "images"
                WHERE "product_id" IS NOT NULL GROUP BY "product_id") c
        WHERE c."product_id" = p."id"`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "products" DROP CONSTRAINT "CHK_products_image_count"`);
    await queryRunner.query(`ALTER TABLE "products" DROP COLUMN "image_count"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_images_gallery_order"`);
    await queryRunner.query(
      `CREATE INDEX "IDX_images_gallery_order" ON "images" ("product_id", "is_primary", "priority", "created_at")`,
    );
  }
}
