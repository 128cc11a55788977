import { type MigrationInterface, type QueryRunner } from 'typeorm';

export class ImageSourceAndUnattachedSweep1795368321540 implements MigrationInterface {
  name = 'ImageSourceAndUnattachedSweep1795368321540';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "images" ADD "source" character varying(8) NOT NULL DEFAULT 'upload'`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_images_unattached_created_at" ON "images"  ("created_at") WHERE "product_id" IS NULL`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "UQ_images_one_import_per_product" ON "images"  ("product_id") WHERE "source" = 'import'`,
    );
    await queryRunner.query(
      `ALTER TABLE "images" ADD CONSTRAINT "CHK_images_source" CHECK ("source" IN ('upload', 'import'))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "images" DROP CONSTRAINT "CHK_images_source"`);
    await queryRunner.query(`DROP INDEX "public"."UQ_images_one_import_per_product"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_images_unattached_created_at"`);
    await queryRunner.query(`ALTER TABLE "images" DROP COLUMN "source"`);
  }
}
