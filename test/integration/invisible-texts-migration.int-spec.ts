import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { UpdateUserDto } from '../../src/auth/dto/user.dto';
import type { DataSource } from 'typeorm';
import { isDisplayText, isVisibleText } from '../../src/common/http/display-text';
import { UpdateImageDto } from '../../src/images/dto/gallery.dto';
import { UpdateProductDto } from '../../src/products/dto/product.dto';
import { TextsShowingNothingEmptied1798400000000 as Migration } from '../../migrations/1798400000000-TextsShowingNothingEmptied';
import { describeMigration } from '../support/migrations';

/** The migration under test, which empties the texts the service now refuses as showing nothing. */
const MIGRATION = 1798400000000;

/**
 * Texts stored before the service refused those that show as nothing: a description (88397ef),
 * an image's title or alt text and a user's full name (52046be).
 */
const CASES: Record<string, string> = {
  zeroWidth: '\u200b',
  bidi: '\u202e\u2066',
  joinerLines: '\u2060\n\u00ad',
  combining: '\u0301',
  spacedZeroWidth: ' \u200b\t',
  bom: '\ufeff\u200b',
  braille: '\u2800',
  hangulFiller: '\u3164\u115f',
  variationSupplement: '\u{e0100}',
  mongolian: '\u180e',
  musicalIgnorable: '\u{1d173}',
  empty: '',
  blank: ' \n\t ',
  ideographicSpace: '\u3000',
  noBreak: '\u00a0',
  lineSeparator: '\u2028',
  bomOnly: '\ufeff',
  word: 'Shoe',
  layout: '  Two lines,\n  the second\u200b indented. ',
  accented: 'e\u0301',
  afterZeroWidth: '\u200bShoe',
  emoji: '\u{1f600}',
  family: '\u{1f468}\u200d\u{1f469}',
  heart: '\u2764\ufe0f',
  noBreakX: '\u00a0x',
};

/** What the service refuses on write: white space only is stored empty, else it must show. */
function showsNothing(text: string): boolean {
  return text.trim() !== '' && !isVisibleText(text);
}

/**
 * The code points either side of each place where the service's rule changes (white space or not,
 * visible or not) and of each end of the ranges in `brackets` (the migration's `\\U…` escapes),
 * with a sample of every 1,000th between.
 */
function boundaries(brackets: string): Set<number> {
  const points = new Set<number>();
  const near = (n: number) => [n - 1, n, n + 1].forEach((p) => points.add(p));
  const white = (n: number) => String.fromCodePoint(n).trim() === '';
  const shows = (n: number) => isVisibleText(String.fromCodePoint(n));
  for (let n = 1; n <= 0x10ffff; n++) {
    if (n % 1000 === 0 || white(n) !== white(n - 1) || shows(n) !== shows(n - 1)) near(n);
  }
  for (const [, hex] of brackets.matchAll(/\\U([0-9a-f]{8})/g)) near(parseInt(hex, 16));
  return points;
}

interface Row {
  key: string;
  product: string;
  image: string;
  title: string;
  alt_text: string;
  full_name: string;
  version: string;
  gallery_version: string;
}

/** A text column as hex: PGlite's driver would drop a leading BOM (U+FEFF) from the text. */
const hex = (column: string, as: string) => `encode(convert_to(${column}, 'UTF8'), 'hex') AS ${as}`;
const TEXT_COLUMNS = ['product', 'image', 'title', 'alt_text', 'full_name'] as const;

const ROWS = `
  SELECT p.name AS key, ${hex('p.description', 'product')}, ${hex('i.description', 'image')},
         ${hex('i.title', 'title')}, ${hex('i.alt_text', 'alt_text')}, ${hex('u.full_name', 'full_name')},
         p.version::text AS version, p.gallery_version::text AS gallery_version
    FROM products p JOIN images i ON i.product_id = p.id JOIN users u ON u.username = lower(p.name)`;

/** The rows as stored, their texts decoded. */
async function read(db: DataSource): Promise<Row[]> {
  const rows = await db.query<Row[]>(ROWS);
  for (const row of rows) {
    for (const column of TEXT_COLUMNS) row[column] = Buffer.from(row[column], 'hex').toString();
  }
  return rows;
}

describeMigration(MIGRATION, (migration) => {
  it('empties the texts that show as nothing, and only those', async () => {
    const stored = await migration.before(async (before) => {
      const [{ id: org }] = await before.query<{ id: string }[]>(
        `INSERT INTO organizations (name, slug) VALUES ('Acme', 'acme') RETURNING id`,
      );
      for (const [key, text] of Object.entries(CASES)) {
        const [{ id: product }] = await before.query<{ id: string }[]>(
          `INSERT INTO products (organization_id, name, slug, description)
           VALUES ($1, $2, $3, $4) RETURNING id`,
          [org, key, key.toLowerCase(), text],
        );
        await before.query(
          `INSERT INTO images (id, organization_id, product_id, is_primary, format, mime_type, width,
                               height, size, color_mode, has_alpha, sha256, storage_key,
                               title, alt_text, description)
           VALUES (gen_random_uuid(), $1, $2::uuid, true, 'jpeg', 'image/jpeg', 8, 8, 100, 'RGB', false, repeat('0', 64),
                   'products/' || $2::text || '/o.jpg', $3, $3, $3)`,
          [org, product, text],
        );
        await before.query(
          `INSERT INTO users (organization_id, email, username, password_hash, role, full_name)
           VALUES ($1, $2 || '@example.com', $2, 'x', 'user', $3)`,
          [org, key.toLowerCase(), text],
        );
      }
      // A stand-alone image (no product) is emptied too, no gallery to count it in.
      await before.query(
        `INSERT INTO images (id, organization_id, format, mime_type, width, height, size, color_mode,
                             has_alpha, sha256, storage_key, description)
         VALUES (gen_random_uuid(), $1, 'jpeg', 'image/jpeg', 8, 8, 100, 'RGB', false, repeat('0', 64),
                 'assets/alone/o.jpg', '\u200b')`,
        [org],
      );
      return read(before);
    });

    await migration.after(async (after) => {
      const rows = await read(after);
      const was = new Map(stored.map((row) => [row.key, row]));
      const actual = Object.fromEntries(
        rows.map((row) => {
          const old = was.get(row.key)!;
          return [
            row.key,
            {
              texts: [row.product, row.image, row.title, row.alt_text, row.full_name],
              version: row.version !== old.version,
              gallery: row.gallery_version !== old.gallery_version,
            },
          ];
        }),
      );
      const expected = Object.fromEntries(
        Object.entries(CASES).map(([key, text]) => {
          const emptied = showsNothing(text);
          const now = emptied ? '' : text;
          // The product's ETag and its gallery's move on when a text of theirs changes.
          return [key, { texts: [now, now, now, now, now], version: emptied, gallery: emptied }];
        }),
      );
      expect(actual).toEqual(expected);
      expect(Object.values(CASES).filter(showsNothing)).toHaveLength(11);
      const [alone] = await after.query<{ description: string }[]>(
        `SELECT description FROM images WHERE product_id IS NULL`,
      );
      expect(alone.description).toBe('');

      // What a client reads and sends back whole (read, modify, write) is now accepted. A title,
      // an alt text or a full name is one line: one of several the service never stored.
      for (const row of rows) {
        const line = isDisplayText(CASES[row.key]);
        const sent = [
          plainToInstance(UpdateProductDto, { name: row.key, description: row.product }),
          plainToInstance(UpdateImageDto, {
            description: row.image,
            ...(line && { title: row.title, alt_text: row.alt_text }),
          }),
          plainToInstance(UpdateUserDto, line ? { full_name: row.full_name } : {}),
        ];
        const errors = (await Promise.all(sent.map((dto) => validate(dto)))).flat();
        expect({ key: row.key, errors }).toEqual({ key: row.key, errors: [] });
      }
    });
  });

  it('finds each character the service refuses alone, and only those', async () => {
    await migration.connected(async (source) => {
      const { notBlank, visible } = Migration.showsNothingPatterns();
      // Each side is constant between its boundaries (the service's rule between the code points
      // where white space or visibility changes; the migration's between its ranges' ends), so
      // the code points on either side of every boundary of both stand for all 1,114,111 that
      // PostgreSQL text holds (not NUL, not a surrogate): asking PostgreSQL each of them took
      // 20 s a backend.
      const points = [...boundaries(`${notBlank}${visible}`)].filter(
        (n) => n >= 1 && n <= 0x10ffff && (n < 0xd800 || n > 0xdfff),
      );
      const rows = await source.query<{ n: number }[]>(
        `SELECT n FROM unnest($3::int[]) AS n WHERE chr(n) ~ $1 AND chr(n) !~ $2 ORDER BY n`,
        [notBlank, visible, points],
      );
      const expected = points
        .filter((n) => showsNothing(String.fromCodePoint(n)))
        .sort((a, b) => a - b);
      expect(rows.map(({ n }) => n)).toEqual(expected);
      expect(expected.length).toBeGreaterThan(100);
    });
  });
});
