import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `import_rows.retry_round`: the retry of its import that last put the row back to pending (0: the
 * import itself). A job of the rows runs names its round, so that the job, failed for good after
 * its process died, fails only the rows it left, not rows a later retry put back and queued to a
 * job of their own, which would then find nothing to do.
 */
export class ImportRowRetryRound1797600000000 implements MigrationInterface {
  name = 'ImportRowRetryRound1797600000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "import_rows" ADD "retry_round" integer NOT NULL DEFAULT 0`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "import_rows" DROP COLUMN "retry_round"`);
  }
}
