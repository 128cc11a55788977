import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `idempotency_keys.work_committed_at`: set in the transaction that commits a claimed request's
 * work, so that after a crash the service can tell a request that died before its work committed
 * (its key may be taken over by a retry once IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS have passed) from
 * one that died after (its key stays in flight until it expires: the work is never done twice).
 */
export class IdempotentWorkCommitted1797200000000 implements MigrationInterface {
  name = 'IdempotentWorkCommitted1797200000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "idempotency_keys" ADD "work_committed_at" TIMESTAMP(3) WITH TIME ZONE`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "idempotency_keys" DROP COLUMN "work_committed_at"`);
  }
}
