import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * `import_rows.line_number`: for a CSV import, the line of the file the row's record starts on (a
 * quoted cell's line breaks and the blank lines skipped make it differ from `row_number`); null for
 * a JSON import, and for the rows stored before this migration.
 */
export class ImportRowLineNumber1798100000000 implements MigrationInterface {
  name = 'ImportRowLineNumber1798100000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "import_rows" ADD "line_number" integer`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "import_rows" DROP COLUMN "line_number"`);
  }
}
