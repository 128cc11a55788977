import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Texts stored before the service refused them as showing nothing, emptied: the empty string is
 * each column's "none" (they are NOT NULL DEFAULT ''). A description, an image's or a product's
 * (refused since 88397ef), an image's title or alt text and a user's full name (since 52046be),
 * made of zero-width spaces, bidi controls, lone combining marks and the like, with nothing else
 * than white space, is now `400 validation_failed` on write: a client that read such a row and
 * sent it back whole (read, change another field, PATCH) was refused for text it never touched.
 * White space only is left as it is (the service takes it as empty when sent back); so is a
 * product's or a key's name (an empty one is no better: a name is required).
 *
 * The rule is display-text.ts's (SHOWS_AS_NOTHING, `isVisibleText`, `trim`), written out here,
 * not imported, so that this migration stays as it is when the service's changes; PostgreSQL's
 * regular expressions know no `\p{…}`, so the code points are listed as the running Node.js's
 * Unicode data has them, as the service's validation, run by the same Node.js, does. A changed
 * image moves its gallery's version on (its ETag), as a change through the service does; a
 * product's version moves on by its trigger. Nothing to undo: the texts emptied are not kept.
 */
export class TextsShowingNothingEmptied1798400000000 implements MigrationInterface {
  name = 'TextsShowingNothingEmptied1798400000000';

  /**
   * PostgreSQL regular expressions, to be used together: a text matching `notBlank` and not
   * `visible` is one the service refuses (not empty, not white space only, and without a
   * character that shows). Public for the test that holds them to display-text.ts (a static
   * method: TypeORM would take an exported function for a migration).
   */
  static showsNothingPatterns(): { notBlank: string; visible: string } {
    return { notBlank: `[^${ranges(WHITE_SPACE)}]`, visible: `[^${ranges(SHOWS_AS_NOTHING)}]` };
  }

  public async up(queryRunner: QueryRunner): Promise<void> {
    const { notBlank, visible } = TextsShowingNothingEmptied1798400000000.showsNothingPatterns();
    const showsNothing = (column: string) => `("${column}" ~ $1 AND "${column}" !~ $2)`;
    const emptied = (column: string) =>
      `"${column}" = CASE WHEN ${showsNothing(column)} THEN '' ELSE "${column}" END`;
    const imageTexts = ['title', 'alt_text', 'description'];
    // The products of the images changed locked first, as the service locks a gallery's product
    // before its images: run beside a service still up (a rolling start), neither waits for the
    // other in a cycle (a deadlock would abort one).
    await queryRunner.query(
      `SELECT 1 FROM "products" WHERE "id" IN (
         SELECT "product_id" FROM "images" WHERE ${imageTexts.map(showsNothing).join(' OR ')})
        ORDER BY "id" FOR UPDATE`,
      [notBlank, visible],
    );
    await queryRunner.query(
      `WITH "changed" AS (
         UPDATE "images"
            SET ${imageTexts.map(emptied).join(', ')}, "updated_at" = now()
          WHERE ${imageTexts.map(showsNothing).join(' OR ')}
         RETURNING "product_id")
       UPDATE "products" SET "gallery_version" = nextval('entity_versions')
        WHERE "id" IN (SELECT "product_id" FROM "changed")`,
      [notBlank, visible],
    );
    await queryRunner.query(
      `UPDATE "products" SET "description" = '', "updated_at" = now()
        WHERE ${showsNothing('description')}`,
      [notBlank, visible],
    );
    await queryRunner.query(
      `UPDATE "users" SET "full_name" = '', "updated_at" = now() WHERE ${showsNothing('full_name')}`,
      [notBlank, visible],
    );
  }

  public async down(): Promise<void> {
    // The texts emptied are not kept; the code before reads an empty one as it always did.
  }
}

/** What shows as nothing on its own (display-text.ts's SHOWS_AS_NOTHING). */
const SHOWS_AS_NOTHING = /[\s\p{M}\p{Default_Ignorable_Code_Point}\u2800]/u;
/** White space, as `String.prototype.trim` takes it away. */
const WHITE_SPACE = /\s/u;

/** The code points `set` matches, as the ranges of a PostgreSQL bracket expression. */
function ranges(set: RegExp): string {
  const escape = (codePoint: number) => `\\U${codePoint.toString(16).padStart(8, '0')}`;
  const parts: string[] = [];
  let start = -1;
  for (let codePoint = 0; codePoint <= 0x110000; codePoint++) {
    const inSet = codePoint < 0x110000 && set.test(String.fromCodePoint(codePoint));
    if (inSet && start < 0) start = codePoint;
    if (!inSet && start >= 0) {
      const end = codePoint - 1;
      parts.push(end === start ? escape(start) : `${escape(start)}-${escape(end)}`);
      start = -1;
    }
  }
  return parts.join('');
}
