import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Idempotency keys (issue 20): one row per `Idempotency-Key` a caller (a user or an API key of an
 * organisation) sent to an idempotent route, shared by every instance of the service. The row is
 * claimed by one INSERT … ON CONFLICT before the work (so only one request of a key does it), with
 * the request's fingerprint (method, path, SHA-256 of the payload, the last filled in once a
 * streamed body has been read), and completed with the answer to replay. `claim_id` names the
 * request holding the row, so that a request whose expired row was claimed again by another one
 * can neither complete nor release it. Rows past `expires_at` are swept by that index.
 * (idempotency/idempotency-keys.repository.ts)
 */
export class IdempotencyKeys1796600000000 implements MigrationInterface {
  name = 'IdempotencyKeys1796600000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "idempotency_keys" (
                "organization_id" uuid NOT NULL,
                "principal_type" character varying(16) NOT NULL,
                "principal_id" uuid NOT NULL,
                "key" character varying(255) NOT NULL,
                "claim_id" uuid NOT NULL,
                "request_method" character varying(16) NOT NULL,
                "request_path" character varying(2048) NOT NULL,
                "payload_sha256" character(64),
                "response_status" smallint,
                "response_headers" jsonb,
                "response_body" text,
                "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(),
                "completed_at" TIMESTAMP(3) WITH TIME ZONE,
                "expires_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL,
                CONSTRAINT "CHK_idempotency_keys_completed" CHECK (("response_status" IS NULL) = ("completed_at" IS NULL)),
                CONSTRAINT "PK_idempotency_keys" PRIMARY KEY ("organization_id", "principal_type", "principal_id", "key")
            )`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_idempotency_keys_expires_at" ON "idempotency_keys" ("expires_at")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "idempotency_keys"`);
  }
}
