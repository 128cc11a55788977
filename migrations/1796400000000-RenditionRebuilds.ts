import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Re-making renditions when the presets change (issue 18):
 * - images gain `rendition_set`, the signature of the presets their renditions were made with
 *   (src/images/renditions/rendition-set.ts), written with every new image. Existing rows are left
 *   null, "not recorded", rather than given the default presets' signature: the presets they were
 *   made with are whatever IMAGE_RENDITIONS said when each was stored, which a migration cannot
 *   know. A rebuild run checks each null row against the configured presets instead (its
 *   renditions' names, and the size each preset makes of the original): one that matches is only
 *   marked with their signature, any other has its renditions made again. Indexed, so start-up
 *   finds out cheaply whether any image differs from the configured presets.
 * - `rendition_rebuilds`: one row per run, with its progress; at most one run under way (planning
 *   or running), held by a unique index on a constant over those rows.
 */
export class RenditionRebuilds1796400000000 implements MigrationInterface {
  name = 'RenditionRebuilds1796400000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "images" ADD "rendition_set" text`);
    await queryRunner.query(
      `CREATE INDEX "IDX_images_rendition_set" ON "images" ("rendition_set")`,
    );
    await queryRunner.query(`
            CREATE TABLE "rendition_rebuilds" (
                "id" uuid NOT NULL DEFAULT gen_random_uuid(),
                "rendition_set" text NOT NULL,
                "state" character varying(16) NOT NULL DEFAULT 'planning',
                "trigger" character varying(16) NOT NULL,
                "total" integer NOT NULL DEFAULT '0',
                "done" integer NOT NULL DEFAULT '0',
                "failed" integer NOT NULL DEFAULT '0',
                "cursor" uuid,
                "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(),
                "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(),
                "finished_at" TIMESTAMP(3) WITH TIME ZONE,
                CONSTRAINT "CHK_rendition_rebuilds_counts" CHECK ("total" >= 0 AND "done" >= 0 AND "failed" >= 0),
                CONSTRAINT "CHK_rendition_rebuilds_trigger" CHECK ("trigger" IN ('start-up', 'admin', 'cli')),
                CONSTRAINT "CHK_rendition_rebuilds_state" CHECK ("state" IN ('planning', 'running', 'completed', 'superseded')),
                CONSTRAINT "PK_rendition_rebuilds" PRIMARY KEY ("id")
            )
        `);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "UQ_rendition_rebuilds_active" ON "rendition_rebuilds" ((true))
        WHERE "state" IN ('planning', 'running')`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."UQ_rendition_rebuilds_active"`);
    await queryRunner.query(`DROP TABLE "rendition_rebuilds"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_images_rendition_set"`);
    await queryRunner.query(`ALTER TABLE "images" DROP COLUMN "rendition_set"`);
  }
}
