import { domainToUnicode } from 'node:url';
import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Users' emails in the one spelling the service now stores, finds and limits logins by: composed
 * (NFC), lower-cased, the domain as IDNA maps it (`xn--bcher-kva.example` is `bücher.example`).
 * Only an address with a character beyond ASCII or a punycode label can change. Left as it is:
 * an address whose canonical spelling another user has already (the two were different accounts
 * before; the one not in that spelling now logs in by username; the oldest account is rewritten
 * first), and one whose canonical spelling is longer than the column (IDNA can lengthen it). The
 * function is written out here, not imported, so that this migration stays as it is when the
 * service's own changes. Nothing to undo: the old spellings are not kept.
 */
export class CanonicalEmails1797400000000 implements MigrationInterface {
  name = 'CanonicalEmails1797400000000';

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
    // The old spellings are not kept. With the code before, an account whose address changed logs
    // in with the address as now stored (or by username).
  }
}

function canonicalEmail(email: string): string {
  const composed = email.trim().normalize('NFC');
  const at = composed.lastIndexOf('@');
  if (at < 0) return composed.toLowerCase();
  const domain = composed.slice(at + 1);
  const mapped = domainToUnicode(domain) || domain;
  return `${composed.slice(0, at).toLowerCase()}@${mapped.toLowerCase()}`;
}
