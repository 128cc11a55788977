import { encodeShortId } from '../common/ids/short-id';
import { ImportRowStatus } from './entities/bulk-import-row.entity';
import { cleanMessage, csvRecordRow, importRow } from './import-row';

const UUID = '0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e';
const URL = 'https://images.example.com/a.jpg';

describe(importRow.name, () => {
  it('keeps a valid row pending, with its product key as stored (UUID, GTIN-14)', () => {
    expect(importRow(3, { product_id: encodeShortId(UUID), url: URL })).toMatchObject({
      row_number: 3,
      status: ImportRowStatus.Pending,
      product_id: UUID,
      gtin: null,
      url: URL,
      problem_code: null,
    });
    expect(
      importRow(1, { gtin: '96385074', url: URL, is_primary: 'yes', priority: '2' }),
    ).toMatchObject({
      gtin: '00000096385074',
      is_primary: true,
      priority: 2,
    });
  });

  it("keeps a CSV row's line, valid or not, and none for a JSON row", () => {
    expect(importRow(3, { gtin: '96385074', url: URL }, 14)).toMatchObject({
      row_number: 3,
      line_number: 14,
      status: ImportRowStatus.Pending,
    });
    expect(importRow(4, { url: URL }, 16)).toMatchObject({
      line_number: 16,
      status: ImportRowStatus.Failed,
    });
    expect(importRow(5, { gtin: '96385074', url: URL })).toMatchObject({ line_number: null });
  });

  it('takes a product key given as null as one not given, beside the one given', () => {
    expect(
      importRow(2, { product_id: encodeShortId(UUID), gtin: null, external_id: null, url: URL }),
    ).toMatchObject({ status: ImportRowStatus.Pending, product_id: UUID, gtin: null });
    expect(importRow(3, { product_id: null, gtin: '96385074', url: URL })).toMatchObject({
      status: ImportRowStatus.Pending,
      product_id: null,
      gtin: '00000096385074',
    });
    expect(importRow(4, { external_id: 'sku-1', gtin: null, url: URL })).toMatchObject({
      status: ImportRowStatus.Pending,
      external_id: 'sku-1',
    });
  });

  it.each([
    ['no product', { url: URL }, /exactly one of product_id, gtin or external_id/],
    ['two products', { gtin: '96385074', external_id: 'x', url: URL }, /exactly one/],
    ['a bad GTIN', { gtin: '96385075', url: URL }, /gtin must be a GTIN/],
    ['no url', { gtin: '96385074' }, /url is required/],
    ['a url that is not http(s)', { gtin: '96385074', url: 'file:///etc/passwd' }, /http\(s\)/],
    [
      'a url carrying a password (shown with its row otherwise)',
      { gtin: '96385074', url: 'http://importer:s3cret@images.example.com/a.png' },
      /without a user name or password/,
    ],
    [
      'a url with a tab or a line break (a parser drops them: shown one, fetched another)',
      { gtin: '96385074', url: 'https://images.example.com/a\tb.png' },
      /tabs, line breaks/,
    ],
    [
      'a url with a line break',
      { gtin: '96385074', url: 'https://images.example.com/a.png\n' },
      /tabs, line breaks/,
    ],
    ['a negative priority', { gtin: '96385074', url: URL, priority: -1 }, /priority must be/],
    ['an unknown field', { gtin: '96385074', url: URL, colour: 'red' }, /colour/],
    ['a NUL character', { gtin: '96385074', url: URL, title: 'a\u0000b' }, /title/],
    ['not an object', ['a'], /must be an object/],
  ])('fails a row with %s alone, keeping none of its values', (_, raw, message) => {
    const row = importRow(7, raw);
    expect(row).toMatchObject({
      row_number: 7,
      status: ImportRowStatus.Failed,
      problem_code: 'invalid_import_row',
      url: null,
      gtin: null,
    });
    expect(row.problem_message).toMatch(message);
    expect(row.problem_message).not.toContain('\u0000');
  });

  it.each([
    ['a GTIN given as a number', { gtin: 96385074, url: URL }, 'gtin must be a string'],
    ['a product id given as a number', { product_id: 12, url: URL }, 'product_id must be a string'],
    [
      'an external id given as a list',
      { external_id: ['x'], url: URL },
      'external_id must be a string',
    ],
    ['a url given as an object', { gtin: '96385074', url: { href: URL } }, 'url must be a string'],
    [
      'a title given as a list',
      { gtin: '96385074', url: URL, title: ['a'] },
      'title must be a string',
    ],
    [
      'an alt text given as true',
      { gtin: '96385074', url: URL, alt_text: true },
      'alt_text must be a string',
    ],
  ])('fails a row with %s saying only that it must be a string', (_, raw, message) => {
    expect(importRow(7, raw)).toMatchObject({
      status: ImportRowStatus.Failed,
      problem_code: 'invalid_import_row',
      problem_message: message,
    });
  });

  it("names a wrongly typed field's type beside the other fields' problems, in order", () => {
    const row = importRow(7, { gtin: 96385074, url: 'ftp://a', title: ['a'], priority: -1 });
    expect(row.problem_message).toMatch(
      /^gtin must be a string; url must be an http\(s\) URL[^;]*; title must be a string; priority must be an integer from 0 to 1000000$/,
    );
  });

  it('fails a row with a long unknown field named in emoji alone, its message cut between characters', () => {
    const row = importRow(2, { gtin: '96385074', url: URL, [`x${'😀'.repeat(1200)}`]: 1 });
    expect(row).toMatchObject({
      status: ImportRowStatus.Failed,
      problem_code: 'invalid_import_row',
    });
    expect(row.problem_message).toBe(`x${'😀'.repeat(999)}`);
  });
});

describe(cleanMessage.name, () => {
  it('keeps 1000 characters (code points, as PostgreSQL counts them), never half of one', () => {
    // Cut at 1000 UTF-16 units, these would end in half an emoji, which jsonb refuses.
    expect(cleanMessage(`x${'😀'.repeat(1200)}`)).toBe(`x${'😀'.repeat(999)}`);
    expect(cleanMessage('😀'.repeat(1200))).toBe('😀'.repeat(1000));
    // 600 characters in 1200 units: short enough.
    expect(cleanMessage('😀'.repeat(600))).toBe('😀'.repeat(600));
    expect(cleanMessage('é'.repeat(1001))).toBe('é'.repeat(1000));
  });
});

describe(csvRecordRow.name, () => {
  it('leaves empty cells out', () => {
    expect(csvRecordRow({ gtin: '', external_id: 'x', url: URL, title: '' })).toEqual({
      external_id: 'x',
      url: URL,
    });
  });

  it("keeps the spaces csvRecords left (a quoted cell's): they are part of the value", () => {
    expect(csvRecordRow({ external_id: 'sku-7 ', url: URL })).toEqual({
      external_id: 'sku-7 ',
      url: URL,
    });
  });
});
