import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * A product's version and its gallery's (their ETags) drawn from one sequence for the whole
 * database, so that no number is ever handed out twice, to any product. Each product counted its
 * own from 1 (and its gallery from 0): a product deleted and made again with the same external id
 * or GTIN, or another product given that id, had the same numbers again, and an `If-Match` read
 * from the first (`"2"`, `"p1"`, or the body's bare `version`) matched the second: a retried
 * DELETE by external id deleted the new product, an edit landed on a gallery its sender never saw.
 *
 * `bigint`: one sequence counts every change of every product. Existing rows are renumbered (the
 * table is rewritten for the type anyway), so an ETag held across the upgrade answers 412 once
 * and the client reads again: the safe direction.
 */
export class NeverRepeatingVersions1797800000000 implements MigrationInterface {
  name = 'NeverRepeatingVersions1797800000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE SEQUENCE "entity_versions" AS bigint`);
    await queryRunner.query(`
      ALTER TABLE "products"
        ALTER COLUMN "version" TYPE bigint,
        ALTER COLUMN "gallery_version" TYPE bigint`);
    // A change of the product's own fields (the trigger's WHEN) is not one of these: renumbering
    // fires nothing.
    await queryRunner.query(`
      UPDATE "products"
         SET "version" = nextval('entity_versions'), "gallery_version" = nextval('entity_versions')`);
    await queryRunner.query(`
      ALTER TABLE "products"
        ALTER COLUMN "version" SET DEFAULT nextval('entity_versions'),
        ALTER COLUMN "gallery_version" SET DEFAULT nextval('entity_versions')`);
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION "products_count_change"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        NEW."version" := nextval('entity_versions');
        RETURN NEW;
      END
      $$`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION "products_count_change"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        NEW."version" := OLD."version" + 1;
        RETURN NEW;
      END
      $$`);
    // Each product counts from 1 again (its gallery from 0): what it counted before is gone.
    await queryRunner.query(`
      ALTER TABLE "products"
        ALTER COLUMN "version" SET DEFAULT 1,
        ALTER COLUMN "gallery_version" SET DEFAULT '0'`);
    await queryRunner.query(`UPDATE "products" SET "version" = 1, "gallery_version" = 0`);
    await queryRunner.query(`
      ALTER TABLE "products"
        ALTER COLUMN "version" TYPE integer,
        ALTER COLUMN "gallery_version" TYPE integer`);
    await queryRunner.query(`DROP SEQUENCE "entity_versions"`);
  }
}
