import { Readable } from 'node:stream';
import { csvRecords, FieldCount } from './csv-rows';

/** The records csvRecords reads from `text`. */
async function records(text: string): Promise<Record<string, string>[]> {
  const read: Record<string, string>[] = [];
  for await (const { fields } of csvRecords(Readable.from([Buffer.from(text)]), 1 << 20)) {
    read.push(fields);
  }
  return read;
}

/** The records csvRecords reads from `chunks`, with the line each starts on. */
async function recordsAndLines(chunks: Buffer[]): Promise<[string, number | null][]> {
  const read: [string, number | null][] = [];
  for await (const { fields, line } of csvRecords(Readable.from(chunks), 1 << 20)) {
    read.push([fields.url, line]);
  }
  return read;
}

/** `whole` cut into pieces at `cuts` (byte offsets, ascending). */
function cut(whole: Buffer, ...cuts: number[]): Buffer[] {
  return [0, ...cuts].map((from, i) => whole.subarray(from, [...cuts, whole.length][i]));
}

describe(csvRecords.name, () => {
  it('trims a cell (a spreadsheet writes `url, gtin`), but not a quoted one', async () => {
    expect(
      await records('gtin, external_id,url\n 96385074 ,"sku-7 ", https://x.test/a.png\t\n'),
    ).toEqual([{ gtin: '96385074', external_id: 'sku-7 ', url: 'https://x.test/a.png' }]);
  });

  it('skips a line of blanks or commas as an empty one, and refuses a short line as before', async () => {
    const row = { gtin: '96385074', url: 'https://x.test/a.png' };
    const text = `gtin,url\n   \n96385074,https://x.test/a.png\n\t\n,\n , \n`;
    expect(await records(text)).toEqual([row]);
    await expect(records('gtin,url\n\n96385074\n')).rejects.toMatchObject({
      code: 'invalid_csv',
      detail: expect.stringMatching(/^Line 3 has 1 field where the header names 2 columns/),
    });
  });

  it("names the line a refused record starts on, a quoted cell's line breaks counted", async () => {
    const before = 'gtin,url,title\n96385074,https://x.test/a.png,"Two\nlines"\n\n';
    await expect(
      records(`${before}96385074,https://x.test/b.png${','.repeat(100)}\n`),
    ).rejects.toMatchObject({
      code: 'invalid_csv',
      detail: expect.stringMatching(/^Line 5 has more than \d+ fields/),
    });
    await expect(records(`${before}96385074,"a\nb"\n`)).rejects.toMatchObject({
      code: 'invalid_csv',
      detail: expect.stringMatching(/^Line 5 has 2 fields where the header names 3 columns/),
    });
  });

  describe('names the line a refused record starts on, in its own words, whatever refuses it', () => {
    // Line 2 a row with a cell over two lines, line 4 a line of commas (skipped), line 5 the
    // refused record, which spans lines 5 to 7.
    const before = 'gtin,url,title\n96385074,https://x.test/a.png,"Two\nlines"\n,,\n';
    it.each([
      [
        'more fields than the header, fewer than an import has columns',
        `${before}96385074,https://x.test/b.png,"a\n\nb",extra\n`,
        /^Line 5 has 4 fields where the header names 3 columns/,
      ],
      [
        'fewer fields than the header',
        `${before}96385074,"https://x.test/\n\nb.png"\n`,
        /^Line 5 has 2 fields where the header names 3 columns/,
      ],
      [
        'a quote never closed',
        `${before}96385074,https://x.test/b.png,"Two\nlines\nand no end\n`,
        /^Line 5 opens a quoted cell that is never closed/,
      ],
      [
        'a quote never closed, on the first line of the file after the header',
        `gtin,url\n96385074,"https://x.test/b.png\n\n`,
        /^Line 2 opens a quoted cell that is never closed/,
      ],
      [
        'a record longer than a record may be',
        `${before}96385074,https://x.test/b.png,"${'long\n'.repeat(20_000)}"\n`,
        /^Line 5 starts a row longer than 65536 bytes/,
      ],
      [
        'a quote never closed that swallows the rest of a long file',
        `${before}96385074,"https://x.test/b.png\n${'96385074,https://x.test/c.png,t\n'.repeat(5000)}`,
        /^Line 5 starts a row longer than 65536 bytes/,
      ],
    ])('%s', async (_, text, detail) => {
      const said = await records(text).then(
        () => ({}),
        (error: unknown) => error,
      );
      expect(said).toMatchObject({ code: 'invalid_csv', detail });
      // Not csv-parse's words, which name the line it had read to.
      expect((said as { detail: string }).detail).not.toMatch(
        /Invalid Record Length|Quote Not Closed|Max Record Size|at line/,
      );
    });
  });

  it('ends a record at any line break, whichever the header ends with', async () => {
    const rows = [
      { gtin: '96385074', url: 'https://x.test/1.png' },
      { gtin: '96385074', url: 'https://x.test/2.png' },
      { gtin: '96385074', url: 'https://x.test/3.png' },
    ];
    const lines = ['gtin,url', ...rows.map((r) => `${r.gtin},${r.url}`)];
    // A header file in CRLF joined to rows in LF, then one row in CR alone.
    const text = `${lines[0]}\r\n${lines[1]}\n${lines[2]}\r${lines[3]}\n`;
    expect(await records(text)).toEqual(rows);
    expect(await records(`${lines.join('\n')}\n`)).toEqual(rows);
  });

  describe('the line each record starts on', () => {
    // A BOM; a header whose quoted first cell follows it and whose last cell spans two lines; a
    // blank line in LF, one in CRLF, one of blanks and commas; a quoted LF, CR and CRLF; records
    // ended by CR, CRLF and by the end of the file.
    const text =
      '\uFEFF"gtin",url,"title\r\n"\r\n' +
      '\n' +
      '96385074,https://x.test/1.png,"a\nb"\r' +
      '\r\n' +
      ' , ,\n' +
      '96385074,https://x.test/2.png,"x ""y"" \r z\r\n"\r\n' +
      '96385074,https://x.test/3.png,plain';
    const whole = Buffer.from(text);
    /** Counted apart from the reader: the line breaks before where the record's URL is. */
    const expected = [1, 2, 3].map((n): [string, number] => {
      const url = `https://x.test/${n}.png`;
      const before = text.slice(0, text.indexOf(`96385074,${url}`));
      return [url, before.split(/\r\n|\r|\n/).length];
    });

    it('is where the record starts, not its number among the rows', async () => {
      expect(expected.map(([, line]) => line)).toEqual([4, 8, 11]);
      expect(await recordsAndLines([whole])).toEqual(expected);
    });

    it('is the same however the bytes are cut into chunks (a CRLF or the BOM across two)', async () => {
      for (let i = 0; i <= whole.length; i++) {
        for (let j = i; j <= whole.length; j++) {
          expect([i, j, await recordsAndLines(cut(whole, i, j))]).toEqual([i, j, expected]);
        }
      }
      const bytes = [...whole].map((byte) => Buffer.from([byte]));
      expect(await recordsAndLines(bytes)).toEqual(expected);
    });

    it('counts the lines csv-parse skips, however many arrive before the next row', async () => {
      const skipped = ' ,\n'.repeat(200_000);
      const whole = Buffer.from(`gtin,url\n${skipped}96385074,https://x.test/1.png\n`);
      const chunks = cut(whole, ...Array.from({ length: 40 }, (_, i) => (i + 1) * 16_384));
      expect(await recordsAndLines(chunks)).toEqual([['https://x.test/1.png', 200_002]]);
    });

    it('counts the header in: the first row is on line 2 of a plain file', async () => {
      const lf = Buffer.from('gtin,url\n96385074,https://x.test/1.png\n');
      expect(await recordsAndLines([lf])).toEqual([['https://x.test/1.png', 2]]);
    });
  });

  it('names an unknown column cut to 100 characters, never inside one', async () => {
    // Cut at 100 UTF-16 units, the name would end in half an emoji (shown escaped, `\ud83d`).
    await expect(records(`gtin,url,x${'😀'.repeat(120)}\n`)).rejects.toMatchObject({
      code: 'invalid_csv',
      detail: expect.stringContaining(`"x${'😀'.repeat(99)}". `) as unknown,
    });
  });
});

describe(FieldCount.name, () => {
  const scan = (max: number, ...chunks: string[]) => {
    const count = new FieldCount(max);
    const ok = chunks.every((chunk) => count.scan(Buffer.from(chunk)));
    return { ok, record: count.record };
  };

  it('counts the fields of each record, as csv-parse splits them', () => {
    expect(scan(3, 'a,b,c\nd,e,f\n')).toEqual({ ok: true, record: 3 });
    expect(scan(3, 'a,b,c,d\n')).toEqual({ ok: false, record: 1 });
    expect(scan(3, 'a,b,c\r\nd,e,f,g\r\n')).toEqual({ ok: false, record: 2 });
    expect(scan(3, 'a,b,c\rd,e,f\rg,h,i,j')).toEqual({ ok: false, record: 3 });
  });

  it('leaves commas and line breaks inside quotes to the field, across chunks', () => {
    expect(scan(2, 'a,"b, c\nand, ""d"", e"\n')).toEqual({ ok: true, record: 2 });
    expect(scan(2, 'a,"b,', ',c",', 'd\n')).toEqual({ ok: false, record: 1 });
    expect(scan(2, 'a,"', '",b\n')).toEqual({ ok: false, record: 1 });
  });

  it('takes a quote inside an unquoted field as text, as csv-parse does with relax_quotes', () => {
    expect(scan(2, 'a,Monitor 27" wide\nb,c\n')).toEqual({ ok: true, record: 3 });
    expect(scan(2, 'a,27" wide,', ',,\n')).toEqual({ ok: false, record: 1 });
    expect(scan(2, 'a,"x""', '",y\n')).toEqual({ ok: false, record: 1 });
  });

  it('reads a quote after the BOM as opening the first field, as csv-parse does', () => {
    const bom = '\uFEFF';
    expect(scan(2, `${bom}"a,b",c\n`)).toEqual({ ok: true, record: 2 });
    expect(scan(2, `${bom}"a\n,b",c\n`)).toEqual({ ok: true, record: 2 });
  });

  it('stops at the first field too many of a line of millions of commas', () => {
    const count = new FieldCount(9);
    expect(count.scan(Buffer.alloc(10_000_000, ','))).toBe(false);
  });
});

describe('an unknown header column', () => {
  it('is named, with the columns an import takes', async () => {
    await expect(records('gtin,url,colour\n')).rejects.toMatchObject({
      code: 'invalid_csv',
      detail:
        'Unknown column(s) in the header: "colour". The columns are: product_id, gtin, ' +
        'external_id, url, title, alt_text, is_primary, priority.',
    });
  });

  it('says so when the header is split by semicolons or tabs, not commas (a spreadsheet’s CSV)', async () => {
    for (const [separator, shown] of [
      [';', '";"'],
      ['\t', '"\\t"'],
    ]) {
      await expect(records(`gtin${separator}url\n`)).rejects.toMatchObject({
        code: 'invalid_csv',
        detail: expect.stringContaining(
          `The columns must be separated by commas; this header seems to use ${shown}.`,
        ) as unknown,
      });
    }
  });
});
