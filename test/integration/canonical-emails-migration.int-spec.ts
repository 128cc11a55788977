import { describeMigration } from '../support/migrations';

/** The migration under test, which stores every user's email in its canonical spelling. */
const MIGRATION = 1797400000000;

/** Emails as the service before the migration stored them (trimmed and lower-cased only). */
const BEFORE = {
  decomposed: 'jose\u0301@example.com',
  punycode: 'ann@xn--bcher-kva.example',
  // Two accounts whose addresses are now one: the one already canonical keeps it.
  canonical: 'bob@bücher.example',
  collides: 'bob@xn--bcher-kva.example',
  ascii: 'plain@example.com',
  // 61 characters, which IDNA spells out as 336 (each ㌖ is a word): over the column.
  lengthens: `a@${'\u3316'.repeat(55)}.com`,
};

describeMigration(MIGRATION, (migration) => {
  it('stores each address in its canonical spelling, leaving one another account has', async () => {
    await migration.before(async (before) => {
      const [{ id }] = await before.query<{ id: string }[]>(
        `INSERT INTO organizations (name, slug) VALUES ('Acme', 'acme') RETURNING id`,
      );
      for (const [username, email] of Object.entries(BEFORE)) {
        await before.query(
          `INSERT INTO users (organization_id, email, username, password_hash, role)
           VALUES ($1, $2, $3, 'x', 'user')`,
          [id, email, username],
        );
      }
    });

    await migration.after(async (after) => {
      const rows = await after.query<{ username: string; email: string }[]>(
        'SELECT username, email FROM users',
      );
      expect(Object.fromEntries(rows.map((row) => [row.username, row.email]))).toEqual({
        decomposed: 'jos\u00e9@example.com',
        punycode: 'ann@bücher.example',
        canonical: 'bob@bücher.example',
        collides: 'bob@xn--bcher-kva.example',
        ascii: 'plain@example.com',
        lengthens: BEFORE.lengthens,
      });
    });
  });
});
