import { type MigrationInterface, type QueryRunner } from 'typeorm';
import { TextsShowingNothingEmptied1798400000000 } from './1798400000000-TextsShowingNothingEmptied';

/**
 * Bulk import rows' titles and alt texts stored before the service refused those showing nothing
 * (52046be), emptied as migration 1798400000000 emptied the images' own: a row accepted with 202
 * by an older version, worked or retried now, was failed `invalid_import_row` (the worker checks a
 * stored row again with today's rules), where an image with the same text was kept, its text
 * emptied. The rule is 1798400000000's, imported: a landed migration is never edited, so this
 * one stays as it is too when the service's rule changes. White space only is left as it is (the
 * worker trims it to empty), and so is NULL (the row left the field out).
 *
 * Emptied to '', not NULL: the row gave the field, and '' is what the service makes of one of
 * white space only (importRow takes '' and keeps it; the image made gets the empty title or alt
 * text, an empty alt text marking it decorative), as a client sending it today would get. NULL
 * would say the field was left out, which it was not. Rows of every status: a failed one may be
 * retried, an ok one's image had its text emptied by 1798400000000. `updated_at` is left: it is
 * the service's mark of the rows a retry reopens in its transaction, and the row's texts are not
 * shown to clients.
 *
 * Run beside a service still up (a rolling start), it locks the rows it changes and nothing else:
 * no import, product or image. What the service locks before import rows (an import, for a
 * retry, a stalled import's end or the sweep; an image's product and images, for the row ok with
 * its image) is thus never what this waits for. A cycle of waits could only be between this and
 * one of the service's statements that lock several rows of one import (a retry, a job's or an
 * import's end, the sweep's deletes) taking two rows changed here in another order. This takes
 * them first, in the order of the primary key (the import, the row's position), the order of
 * those statements' index scans; another (a scan of the table) needs two rows of one import
 * showing nothing, reached at that instant. PostgreSQL would then abort one of the two
 * statements: this one's start would fail, and the next one run it again.
 */
export class ImportRowTextsShowingNothingEmptied1798500000000 implements MigrationInterface {
  name = 'ImportRowTextsShowingNothingEmptied1798500000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    const { notBlank, visible } = TextsShowingNothingEmptied1798400000000.showsNothingPatterns();
    const showsNothing = (column: string) => `("${column}" ~ $1 AND "${column}" !~ $2)`;
    const emptied = (column: string) =>
      `"${column}" = CASE WHEN ${showsNothing(column)} THEN '' ELSE "${column}" END`;
    const texts = ['title', 'alt_text'];
    const changed = texts.map(showsNothing).join(' OR ');
    await queryRunner.query(
      `SELECT 1 FROM "import_rows" WHERE ${changed} ORDER BY "import_id", "row_number" FOR UPDATE`,
      [notBlank, visible],
    );
    await queryRunner.query(
      `UPDATE "import_rows" SET ${texts.map(emptied).join(', ')} WHERE ${changed}`,
      [notBlank, visible],
    );
  }

  public async down(): Promise<void> {
    // The texts emptied are not kept; the code before reads an empty one as it always did.
  }
}
