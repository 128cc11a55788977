import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `transform_result_leases`: which process of a fleet is making a transform result. One row per
 * result being made, claimed by one INSERT … ON CONFLICT before the making and deleted after it;
 * `holder_id` names the making, so that a making whose lease expired and was taken over can neither
 * renew nor delete the new holder's row. The maker renews `expires_at` while it works, so a killed
 * process's lease lapses within seconds. It replaces a session-level advisory lock, which held a
 * pooled database connection for the whole making (images/delivery/delivery.repository.ts).
 */
export class TransformResultLeases1796800000000 implements MigrationInterface {
  name = 'TransformResultLeases1796800000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "transform_result_leases" (
                "result_key" text NOT NULL,
                "holder_id" uuid NOT NULL,
                "expires_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL,
                CONSTRAINT "PK_transform_result_leases" PRIMARY KEY ("result_key")
            )`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "transform_result_leases"`);
  }
}
