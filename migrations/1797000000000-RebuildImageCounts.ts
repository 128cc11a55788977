import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `rendition_rebuild_images`: which images a rendition rebuild run has counted, and how. A run's
 * `done` and `failed` grow only when an image's row is inserted here, so an image job that pg-boss
 * runs again after its count committed (its process died before the job was marked complete, or
 * its dead letter job ran after an attempt that had counted it) is not counted twice. The rows
 * serve only while the run is under way: they are deleted when it completes or is superseded.
 * No foreign key to `images`: an image deleted during the run is counted too.
 */
export class RebuildImageCounts1797000000000 implements MigrationInterface {
  name = 'RebuildImageCounts1797000000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "rendition_rebuild_images" (
                "run_id" uuid NOT NULL,
                "image_id" uuid NOT NULL,
                "outcome" character varying(8) NOT NULL,
                CONSTRAINT "CHK_rendition_rebuild_images_outcome" CHECK ("outcome" IN ('done', 'failed')),
                CONSTRAINT "PK_rendition_rebuild_images" PRIMARY KEY ("run_id", "image_id"),
                CONSTRAINT "FK_rendition_rebuild_images_run" FOREIGN KEY ("run_id")
                    REFERENCES "rendition_rebuilds"("id") ON DELETE CASCADE
            )`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "rendition_rebuild_images"`);
  }
}
