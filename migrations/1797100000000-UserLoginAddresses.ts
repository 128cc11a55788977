import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `user_login_addresses`: the client addresses each user logged in from, and when last. A login
 * from one of them, within 30 days, is counted against a per-account limit of its
 * own, so that failed attempts from elsewhere (someone locking the account out on purpose) do not
 * keep its owner out. Deleted with the user; rows older than the window are deleted at the user's
 * next login.
 */
export class UserLoginAddresses1797100000000 implements MigrationInterface {
  name = 'UserLoginAddresses1797100000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "user_login_addresses" (
                "user_id" uuid NOT NULL,
                "address" character varying(64) NOT NULL,
                "last_login_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(),
                CONSTRAINT "PK_user_login_addresses" PRIMARY KEY ("user_id", "address"),
                CONSTRAINT "FK_user_login_addresses_user" FOREIGN KEY ("user_id")
                    REFERENCES "users"("id") ON DELETE CASCADE
            )`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "user_login_addresses"`);
  }
}
