import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * API keys belong to their organisation and outlive the user who made them; keep that user's
 * username with the key, since created_by is set to null when the user is deleted.
 */
export class ApiKeyCreatorUsername1796050500000 implements MigrationInterface {
  name = 'ApiKeyCreatorUsername1796050500000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "api_keys" ADD "created_by_username" character varying(150)`,
    );
    // Keys made before: their creator, where that user still exists.
    await queryRunner.query(
      `UPDATE "api_keys" k SET "created_by_username" = u."username" FROM "users" u WHERE u."id" = k."created_by"`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "api_keys" DROP COLUMN "created_by_username"`);
  }
}
