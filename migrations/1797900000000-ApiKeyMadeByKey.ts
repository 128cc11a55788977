import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The API key that made a key, when a key made it (null for a person's or the CLI's). Revoking a
 * key revokes the keys it made, and theirs: a leaked key's revocation would otherwise leave every
 * key it made working, each credited to the person who made the leaked one. A key deleted with
 * its organisation takes nothing else with it (SET NULL; keys are only revoked, never deleted).
 */
export class ApiKeyMadeByKey1797900000000 implements MigrationInterface {
  name = 'ApiKeyMadeByKey1797900000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "api_keys" ADD "created_by_key_id" uuid`);
    await queryRunner.query(`
      ALTER TABLE "api_keys" ADD CONSTRAINT "FK_api_keys_created_by_key"
        FOREIGN KEY ("created_by_key_id") REFERENCES "api_keys"("id") ON DELETE SET NULL`);
    await queryRunner.query(
      `CREATE INDEX "IDX_api_keys_created_by_key" ON "api_keys" ("created_by_key_id")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_api_keys_created_by_key"`);
    await queryRunner.query(`ALTER TABLE "api_keys" DROP CONSTRAINT "FK_api_keys_created_by_key"`);
    await queryRunner.query(`ALTER TABLE "api_keys" DROP COLUMN "created_by_key_id"`);
  }
}
