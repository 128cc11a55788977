import { Readable } from 'node:stream';
import { csvRecords, FieldCount } from './csv-rows';

/** The records csvRecords reads from `text`. */
async function records(text: string): Promise<Record<string, string>[]> {
  const read: Record<string, string>[] = [];
  for await (const record of csvRecords(Readable.from([Buffer.from(text)]), 1 << 20)) {
    read.push(record);
  }
  return read;
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
      detail: 'Invalid Record Length: expect 2, got 1 on line 3',
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
