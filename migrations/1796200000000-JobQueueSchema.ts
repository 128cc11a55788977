import { type MigrationInterface, type QueryRunner } from 'typeorm';
import { JOB_SCHEMA, jobQueueSchemaSql } from '../src/jobs/pg-boss.engine';

/**
 * Installs pg-boss's schema (issue 18), so that a migrated database can take jobs and a later
 * migration can move work into queues. It runs pg-boss's own construction SQL, at the version
 * installed with the service; from there pg-boss's `start()` upgrades its schema itself, under its
 * own advisory lock. That SQL holds its own BEGIN/COMMIT, hence no transaction around it here.
 */
export class JobQueueSchema1796200000000 implements MigrationInterface {
  name = 'JobQueueSchema1796200000000';
  transaction = false as const;

  public async up(queryRunner: QueryRunner): Promise<void> {
    const [{ installed }] = (await queryRunner.query(
      `SELECT to_regclass($1) IS NOT NULL AS installed`,
      [`${JOB_SCHEMA}.version`],
    )) as { installed: boolean }[];
    if (!installed) await queryRunner.query(jobQueueSchemaSql());
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP SCHEMA IF EXISTS "${JOB_SCHEMA}" CASCADE`);
  }
}
