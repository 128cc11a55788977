import { type MigrationInterface, type QueryRunner } from 'typeorm';

export class GalleryVersionAndDeletionOutbox1795362182429 implements MigrationInterface {
  name = 'GalleryVersionAndDeletionOutbox1795362182429';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
            CREATE TABLE "storage_deletions" (
                "id" uuid NOT NULL DEFAULT gen_random_uuid(),
                "key" character varying(512) NOT NULL,
                "attempts" integer NOT NULL DEFAULT '0',
                "next_attempt_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
                "last_error" character varying(500),
                "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
                CONSTRAINT "PK_0f4ad92143fb36dadad7c5b8717" PRIMARY KEY ("id")
            )
        `);
    await queryRunner.query(`
            CREATE INDEX "IDX_storage_deletions_due" ON "storage_deletions" ("next_attempt_at")
        `);
    await queryRunner.query(`
            ALTER TABLE "products"
            ADD "gallery_version" integer NOT NULL DEFAULT '0'
        `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
            ALTER TABLE "products" DROP COLUMN "gallery_version"
        `);
    await queryRunner.query(`
            DROP INDEX "public"."IDX_storage_deletions_due"
        `);
    await queryRunner.query(`
            DROP TABLE "storage_deletions"
        `);
  }
}
