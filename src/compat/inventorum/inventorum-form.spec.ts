import { PassThrough } from 'node:stream';
import type { Multipart } from '@fastify/multipart';
import { ImagePurpose } from '../../images/entities/image.entity';
import {
  imageFieldFor,
  inventorumParts,
  takesTypeFor,
  typeNumber,
  type FormNotes,
} from './inventorum-form';

describe(typeNumber.name, () => {
  it("numbers the types by their place in Inventorum's list", () => {
    expect(typeNumber(ImagePurpose.Product)).toBe(0);
    expect(typeNumber(ImagePurpose.Account)).toBe(1);
    expect(typeNumber(ImagePurpose.User)).toBe(2);
    expect(typeNumber(ImagePurpose.Category)).toBe(3);
  });
});

describe(imageFieldFor.name, () => {
  it.each(['1', '7', ' 7 ', 'v7', '7.0', ['6', '12']])('is product_image for version %j', (v) =>
    expect(imageFieldFor(v)).toBe('product_image'),
  );

  it.each([undefined, '8', '12', '', 'latest', '-1', '7a', '9999999'])(
    'is image for version %j (absent or not a number: the latest)',
    (v) => expect(imageFieldFor(v)).toBe('image'),
  );
});

describe(takesTypeFor.name, () => {
  it.each(['1', '2', 'v2', '2.1'])('is false for version %j (type came in version 3)', (v) =>
    expect(takesTypeFor(v)).toBe(false),
  );

  it.each([undefined, '3', '7', '12', 'latest', ''])('is true for version %j', (v) =>
    expect(takesTypeFor(v)).toBe(true),
  );
});

function file(fieldname: string): Multipart & { file: PassThrough } {
  const stream = new PassThrough();
  stream.end(Buffer.from('bytes'));
  return { type: 'file', fieldname, filename: 'a.jpg', file: stream } as unknown as Multipart & {
    file: PassThrough;
  };
}

function field(fieldname: string, value: string): Multipart {
  return { type: 'field', fieldname, value } as unknown as Multipart;
}

async function translate(parts: Multipart[], imageField: 'image' | 'product_image') {
  const notes: FormNotes = { imageSentAsText: false };
  async function* source() {
    yield* parts;
  }
  const out: Multipart[] = [];
  for await (const part of inventorumParts(source(), imageField, notes)) out.push(part);
  return { out: out.map((p) => `${p.type}:${p.fieldname}`), notes };
}

describe(inventorumParts.name, () => {
  it("passes the version's file as image, and type once the form is read", async () => {
    expect(await translate([file('image'), field('type', 'user')], 'image')).toEqual({
      out: ['file:image', 'field:type'],
      notes: { imageSentAsText: false },
    });
    expect(
      await translate([field('type', 'user'), file('product_image')], 'product_image'),
    ).toEqual({ out: ['file:image', 'field:type'], notes: { imageSentAsText: false } });
  });

  it('ignores other fields and drains other files, as Inventorum ignores unknown fields', async () => {
    const other = file('image');
    const result = await translate(
      [field('name', 'x'), other, file('product_image'), field('type', 'account')],
      'product_image',
    );
    expect(result.out).toEqual(['file:image', 'field:type']);
    expect(other.file.readableFlowing).toBe(true);
  });

  it('passes only the last type of several, after the other parts, as Django reads one', async () => {
    const parts = [
      field('type', 'user'),
      file('image'),
      field('type', 'x'),
      field('type', 'account'),
    ];
    const notes: FormNotes = { imageSentAsText: false };
    async function* source() {
      yield* parts;
    }
    const out: Multipart[] = [];
    for await (const part of inventorumParts(source(), 'image', notes)) out.push(part);
    expect(out.map((p) => `${p.type}:${p.fieldname}`)).toEqual(['file:image', 'field:type']);
    expect(out[1]).toBe(parts[3]);
  });

  it('notes an image field sent as text, and leaves it out', async () => {
    expect(
      await translate([field('image', 'image-file.jpg'), field('type', 'product')], 'image'),
    ).toEqual({
      out: ['field:type'],
      notes: { imageSentAsText: true },
    });
  });
});
