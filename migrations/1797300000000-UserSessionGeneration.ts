import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `users.session_generation`: counts the ends of a user's sessions (a logout, a password change,
 * a disabling or re-enabling). A token names the generation it was issued in and is refused once
 * the user's has moved on: exact, where `tokens_valid_after` compared whole seconds, so a token
 * issued in the same second before a logout outlived it. Tokens issued before this column have no
 * generation and are still judged by `tokens_valid_after`.
 */
export class UserSessionGeneration1797300000000 implements MigrationInterface {
  name = 'UserSessionGeneration1797300000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "users" ADD "session_generation" integer NOT NULL DEFAULT 0`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "users" DROP COLUMN "session_generation"`);
  }
}
