import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `users.tokens_valid_after`: the time of the user's last password change. A token (JWT) issued
 * before it is refused, so that changing a password ends the sessions of whoever knew the old one.
 * Null: never changed since this column came, every token still good. (auth/principal.service.ts)
 */
export class UserTokensValidAfter1796700000000 implements MigrationInterface {
  name = 'UserTokensValidAfter1796700000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "users" ADD "tokens_valid_after" TIMESTAMP(3) WITH TIME ZONE`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "users" DROP COLUMN "tokens_valid_after"`);
  }
}
