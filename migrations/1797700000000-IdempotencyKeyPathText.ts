import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `idempotency_keys.request_path` as `text`: a path is as long as the request line allows, and a
 * valid external id of 255 characters of a three-byte script makes a path of 2,295 characters
 * percent-encoded. The `varchar(2048)` refused it, so every request with an Idempotency-Key to
 * that product's by-external-id routes answered 500 (without a key, the same request worked).
 * From varchar to text, PostgreSQL rewrites nothing.
 */
export class IdempotencyKeyPathText1797700000000 implements MigrationInterface {
  name = 'IdempotencyKeyPathText1797700000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "idempotency_keys" ALTER COLUMN "request_path" TYPE text`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    // Paths longer than the old column are cut: their keys could not be kept before either.
    await queryRunner.query(
      `ALTER TABLE "idempotency_keys" ALTER COLUMN "request_path" TYPE character varying(2048)
         USING left("request_path", 2048)`,
    );
  }
}
