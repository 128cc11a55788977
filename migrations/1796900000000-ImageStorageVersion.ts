import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `images.storage_version`: the version the storage gave the original when it was written, where
 * it gives one (Cloudinary: the upload's time in seconds), put in the image's delivery URLs. The
 * Ocha API's imported image keeps its key (`products/<slug>`) when it is replaced, so without it
 * the new image had the old one's URL, and a browser or CDN that held the old bytes kept showing
 * them. Null where keys never take new bytes (local disk, S3), and for images stored before.
 */
export class ImageStorageVersion1796900000000 implements MigrationInterface {
  name = 'ImageStorageVersion1796900000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "images" ADD "storage_version" bigint`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "images" DROP COLUMN "storage_version"`);
  }
}
