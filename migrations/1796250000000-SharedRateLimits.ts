import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Login limits shared by every instance of the service (issue 18), when REDIS_URL is unset: one
 * row per limited thing (a throttler and a client address or an account, hashed into `key`), with
 * the expiry of each attempt still counted, the window, and the end of a block
 * (shared-state/rate-limits.repository.ts). `expires_at` is when the row stops mattering: rows
 * past it are swept by that index, a bounded batch at a time.
 */
export class SharedRateLimits1796250000000 implements MigrationInterface {
  name = 'SharedRateLimits1796250000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "rate_limits" (
        "key" character varying(128) NOT NULL,
        "hits" timestamp with time zone array NOT NULL,
        "window_ends_at" timestamp with time zone NOT NULL,
        "blocked_until" timestamp with time zone,
        "expires_at" timestamp with time zone NOT NULL,
        CONSTRAINT "PK_rate_limits" PRIMARY KEY ("key")
      )`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_rate_limits_expires_at" ON "rate_limits" ("expires_at")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "rate_limits"`);
  }
}
