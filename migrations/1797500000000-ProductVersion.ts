import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `products.version`: counts the changes to a product's own fields (name, slug, GTIN, external
 * id, description). It is the product's ETag, so that two editors' PATCHes (or a PATCH and a
 * DELETE) cannot overwrite one another unseen: a change sent with an older version in If-Match
 * answers 412 product_changed. The gallery keeps its own version (`gallery_version`).
 *
 * A trigger counts the changes, not the service's UPDATE: every change is counted, whoever makes
 * it (an instance of an older version during a rolling upgrade, a fix made in psql), and an
 * UPDATE that leaves the fields as they were counts nothing.
 */
export class ProductVersion1797500000000 implements MigrationInterface {
  name = 'ProductVersion1797500000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "products" ADD "version" integer NOT NULL DEFAULT 1`);
    await queryRunner.query(`
      CREATE FUNCTION "products_count_change"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        NEW."version" := OLD."version" + 1;
        RETURN NEW;
      END
      $$`);
    await queryRunner.query(`
      CREATE TRIGGER "TRG_products_version" BEFORE UPDATE ON "products" FOR EACH ROW
      WHEN (OLD."name" IS DISTINCT FROM NEW."name"
         OR OLD."slug" IS DISTINCT FROM NEW."slug"
         OR OLD."gtin" IS DISTINCT FROM NEW."gtin"
         OR OLD."external_id" IS DISTINCT FROM NEW."external_id"
         OR OLD."description" IS DISTINCT FROM NEW."description")
      EXECUTE FUNCTION "products_count_change"()`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "TRG_products_version" ON "products"`);
    await queryRunner.query(`DROP FUNCTION "products_count_change"()`);
    await queryRunner.query(`ALTER TABLE "products" DROP COLUMN "version"`);
  }
}
