import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Bulk imports (issue 18): `imports`, one per POST /api/v1/imports, and `import_rows`, one per
 * row received, each with its status (pending, ok, failed), the image it made or its problem, and
 * a stable identity across re-runs (the import and the row's position). Rows are written in
 * batches as the body streams in and worked by jobs; nothing holds an import's rows in memory.
 */
export class BulkImports1796500000000 implements MigrationInterface {
  name = 'BulkImports1796500000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "imports" (
                "id" uuid NOT NULL DEFAULT gen_random_uuid(),
                "organization_id" uuid NOT NULL,
                "principal" jsonb NOT NULL,
                "format" character varying(8) NOT NULL,
                "state" character varying(16) NOT NULL DEFAULT 'receiving',
                "total_rows" integer NOT NULL DEFAULT '0',
                "finished_at" TIMESTAMP(3) WITH TIME ZONE,
                "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(),
                "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(),
                CONSTRAINT "CHK_imports_state" CHECK ("state" IN ('receiving', 'processing')),
                CONSTRAINT "CHK_imports_format" CHECK ("format" IN ('json', 'csv')),
                CONSTRAINT "PK_imports" PRIMARY KEY ("id")
            )`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_imports_organization_created" ON "imports" ("organization_id", "created_at")`,
    );
    await queryRunner.query(
      `CREATE TABLE "import_rows" (
                "import_id" uuid NOT NULL,
                "row_number" integer NOT NULL,
                "status" character varying(8) NOT NULL DEFAULT 'pending',
                "product_id" uuid,
                "gtin" character varying(14),
                "external_id" character varying(255),
                "url" character varying(2048),
                "title" character varying(255),
                "alt_text" character varying(1000),
                "is_primary" boolean,
                "priority" integer,
                "image_id" uuid,
                "claimed_by" character varying(64),
                "claimed_until" TIMESTAMP(3) WITH TIME ZONE,
                "problem_code" character varying(64),
                "problem_message" character varying(1000),
                "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(),
                CONSTRAINT "CHK_import_rows_priority" CHECK ("priority" IS NULL OR "priority" >= 0),
                CONSTRAINT "CHK_import_rows_status" CHECK ("status" IN ('pending', 'ok', 'failed')),
                CONSTRAINT "PK_import_rows" PRIMARY KEY ("import_id", "row_number")
            )`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_import_rows_status" ON "import_rows" ("import_id", "status", "row_number")`,
    );
    await queryRunner.query(
      `ALTER TABLE "imports" ADD CONSTRAINT "FK_imports_organization" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "import_rows" ADD CONSTRAINT "FK_import_rows_import" FOREIGN KEY ("import_id") REFERENCES "imports"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "import_rows" DROP CONSTRAINT "FK_import_rows_import"`);
    await queryRunner.query(`ALTER TABLE "imports" DROP CONSTRAINT "FK_imports_organization"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_import_rows_status"`);
    await queryRunner.query(`DROP TABLE "import_rows"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_imports_organization_created"`);
    await queryRunner.query(`DROP TABLE "imports"`);
  }
}
