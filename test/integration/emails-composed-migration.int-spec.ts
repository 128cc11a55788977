import { domainToUnicode } from 'node:url';
import { canonicalEmail } from '../../src/auth/email-address';
import { describeMigration } from '../support/migrations';

/** The migration under test, which stores every email as the service spells it now. */
const MIGRATION = 1798300000000;

/**
 * Addresses as a user typed them, stored as the service spelled them after migration 1797400000000
 * and before this one (earlierSpelling). Each must end in the spelling login looks it up by.
 */
const TYPED = {
  greek: '\u03aa\u0301@example.com', // Ϊ and an acute: lower-cased ΐ, composed ΐ.
  dotted: 'İnci@example.com',
  sharp: 'straße@STRASSE.example',
  trailingDot: 'ann@Bücher.example.',
  spaces: '  bob@example.com ',
  decomposed: 'jose\u0301@example.com',
  punycode: 'eve@xn--bcher-kva.example',
};

/** The service's canonicalEmail from migration 1797400000000 on: not composed again at the end. */
function earlierSpelling(email: string): string {
  const composed = email.trim().normalize('NFC');
  const at = composed.lastIndexOf('@');
  const domain = composed.slice(at + 1);
  const mapped = domainToUnicode(domain) || domain;
  return `${composed.slice(0, at).toLowerCase()}@${mapped.toLowerCase()}`;
}

describeMigration(MIGRATION, (migration) => {
  it('stores each address in the spelling login finds it by', async () => {
    await migration.before(async (before) => {
      const [{ id }] = await before.query<{ id: string }[]>(
        `INSERT INTO organizations (name, slug) VALUES ('Acme', 'acme') RETURNING id`,
      );
      for (const [username, email] of Object.entries(TYPED)) {
        await before.query(
          `INSERT INTO users (organization_id, email, username, password_hash, role)
           VALUES ($1, $2, $3, 'x', 'user')`,
          [id, earlierSpelling(email), username],
        );
      }
    });

    await migration.after(async (after) => {
      const rows = await after.query<{ username: string; email: string }[]>(
        'SELECT username, email FROM users',
      );
      const stored = Object.fromEntries(rows.map((row) => [row.username, row.email]));
      const expected = Object.fromEntries(
        Object.entries(TYPED).map(([username, email]) => [username, canonicalEmail(email)]),
      );
      expect(stored).toEqual(expected);
      expect(stored.greek).toBe('\u0390@example.com');
    });
  });
});
