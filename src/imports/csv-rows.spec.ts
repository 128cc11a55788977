import { FieldCount } from './csv-rows';

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
