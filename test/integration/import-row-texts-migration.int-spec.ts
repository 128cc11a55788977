import type { DataSource } from 'typeorm';
import { importRow } from '../../src/imports/import-row';
import { describeMigration } from '../support/migrations';

/** The migration under test, which empties import rows' titles and alt texts showing nothing. */
const MIGRATION = 1798500000000;

/**
 * Rows stored before the service refused a title or an alt text that shows as nothing (52046be):
 * [title, alt text] as stored (null: the row left the field out), then as the migration leaves
 * them, and the row's status (a failed row of a problem other than its values may be retried).
 */
const CASES: Record<
  string,
  { stored: (string | null)[]; after: (string | null)[]; status: string }
> = {
  invisible: { stored: ['\u200b\u200b', '\u202e\u0301'], after: ['', ''], status: 'pending' },
  bomFirst: { stored: ['\ufeff\u200b', ' \u2060 '], after: ['', ''], status: 'failed' },
  onlyTitle: { stored: ['\u200b', null], after: ['', null], status: 'pending' },
  zeroWidthInside: {
    stored: ['a\u200bb', 'a\u200bb'],
    after: ['a\u200bb', 'a\u200bb'],
    status: 'pending',
  },
  blank: { stored: [' \t ', ' '], after: [' \t ', ' '], status: 'pending' },
  empty: { stored: ['', ''], after: ['', ''], status: 'pending' },
  leftOut: { stored: [null, null], after: [null, null], status: 'pending' },
};

/** A text column as hex: PGlite's driver would drop a leading BOM (U+FEFF) from the text. */
const hex = (column: string) => `encode(convert_to(${column}, 'UTF8'), 'hex') AS ${column}`;
const decode = (text: string | null) =>
  text === null ? null : Buffer.from(text, 'hex').toString();

/** Each row's [title, alt text] as stored, by its external id. */
async function read(db: DataSource): Promise<Record<string, (string | null)[]>> {
  const rows = await db.query<
    { external_id: string; title: string | null; alt_text: string | null }[]
  >(`SELECT external_id, ${hex('title')}, ${hex('alt_text')} FROM import_rows ORDER BY row_number`);
  return Object.fromEntries(
    rows.map((row) => [row.external_id, [decode(row.title), decode(row.alt_text)]]),
  );
}

describeMigration(MIGRATION, (migration) => {
  it("empties import rows' titles and alt texts that show as nothing, and only those", async () => {
    const stored = await migration.before(async (before) => {
      const [{ id: org }] = await before.query<{ id: string }[]>(
        `INSERT INTO organizations (name, slug) VALUES ('Acme', 'acme') RETURNING id`,
      );
      await before.query(
        `INSERT INTO products (organization_id, name, slug, external_id)
         VALUES ($1, 'Shoe', 'shoe', 'shoe')`,
        [org],
      );
      const [{ id: job }] = await before.query<{ id: string }[]>(
        `INSERT INTO imports (organization_id, principal, format, state)
         VALUES ($1, '{}', 'json', 'processing') RETURNING id`,
        [org],
      );
      let rowNumber = 0;
      for (const [
        key,
        {
          stored: [title, altText],
          status,
        },
      ] of Object.entries(CASES)) {
        rowNumber += 1;
        await before.query(
          `INSERT INTO import_rows (import_id, row_number, status, external_id, url, title, alt_text,
                                    problem_code, problem_message)
           VALUES ($1, $2, $3::varchar, $4, 'https://images.example.com/shoe.jpg', $5, $6,
                   CASE WHEN $3::varchar = 'failed' THEN 'fetch_failed' END,
                   CASE WHEN $3::varchar = 'failed' THEN 'The image could not be fetched.' END)`,
          [job, rowNumber, status, key, title, altText],
        );
      }
      return read(before);
    });
    expect(stored).toEqual(
      Object.fromEntries(Object.entries(CASES).map(([key, { stored: texts }]) => [key, texts])),
    );

    await migration.after(async (after) => {
      const rows = await read(after);
      expect(rows).toEqual(
        Object.fromEntries(Object.entries(CASES).map(([key, { after: texts }]) => [key, texts])),
      );
      // What the worker makes of each row now (it checks the stored row again, a column left null
      // being a field left out): none is refused for its texts any more.
      Object.values(rows).forEach(([title, altText], n) => {
        const given = { external_id: 'shoe', url: 'https://images.example.com/shoe.jpg' };
        const row = {
          ...given,
          ...(title !== null && { title }),
          ...(altText !== null && { alt_text: altText }),
        };
        expect(importRow(n + 1, row)).toMatchObject({ status: 'pending', problem_code: null });
      });
    });
  });
});
