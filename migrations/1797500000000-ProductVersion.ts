import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `products.version`: counts the changes to a product's own fields (name, slug, GTIN, external
 * id, description). It is the product's ETag, so that two editors' PATCHes (or a PATCH and a
 * DELETE) cannot overwrite one another unseen: a change sent with an older version in If-Match
 * answers 412 product_changed. The gallery keeps its own version (`gallery_version`).
 */
export class ProductVersion1797500000000 implements MigrationInterface {
  name = 'ProductVersion1797500000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "products" ADD "version" integer NOT NULL DEFAULT 1`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "products" DROP COLUMN "version"`);
  }
}
