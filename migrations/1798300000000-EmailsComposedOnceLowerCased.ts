import { domainToUnicode } from 'node:url';
import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Users' emails in the spelling login now finds them by: composed (NFC) once more after
 * lower-casing. Migration 1797400000000 (and the service until then) lower-cased after composing
 * only, so an address whose capitals lower-case into a sequence that composes further (Greek `Ϊ́`,
 * lower-cased `ΐ`, composed `ΐ`) was stored in a spelling login never produces: its user could
 * log in by username only. Only an address with a character beyond ASCII can change; left as it
 * is, as in 1797400000000, one whose new spelling another user has already, or that the column
 * cannot hold. The function is written out here, not imported, so that this migration stays as
 * it is when the service's own changes. Nothing to undo: the old spellings are not kept.
 */
export class EmailsComposedOnceLowerCased1798300000000 implements MigrationInterface {
  name = 'EmailsComposedOnceLowerCased1798300000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    const users = (await queryRunner.query(
      `SELECT "id", "email" FROM "users" WHERE "email" ~ '[^\\x01-\\x7f]' OR "email" LIKE '%xn--%'
       ORDER BY "created_at", "id"`,
    )) as { id: string; email: string }[];
    for (const { id, email } of users) {
      const canonical = canonicalEmail(email);
      if (canonical === email || [...canonical].length > 320) continue;
      await queryRunner.query(
        `UPDATE "users" SET "email" = $1 WHERE "id" = $2
           AND NOT EXISTS (SELECT 1 FROM "users" WHERE "email" = $1)`,
        [canonical, id],
      );
    }
  }

  public async down(): Promise<void> {
    // The old spellings are not kept; the code before finds these accounts by username.
  }
}

function canonicalEmail(email: string): string {
  const composed = email.trim().normalize('NFC');
  const at = composed.lastIndexOf('@');
  if (at < 0) return composed.toLowerCase().normalize('NFC');
  const domain = composed.slice(at + 1);
  const mapped = domainToUnicode(domain) || domain;
  return `${composed.slice(0, at).toLowerCase()}@${mapped.toLowerCase()}`.normalize('NFC');
}
