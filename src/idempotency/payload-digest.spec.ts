import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { BodyTap, canonicalJson, RowsDigest, uploadDigest } from './payload-digest';

describe('canonicalJson', () => {
  it('writes equal values alike, whatever order their keys were set in', () => {
    const a = { title: 'Front', nested: { b: 1, a: [{ y: 2, x: 1 }] }, gone: undefined };
    const b = { nested: { a: [{ x: 1, y: 2 }], b: 1 }, title: 'Front' };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"nested":{"a":[{"x":1,"y":2}],"b":1},"title":"Front"}');
    expect(canonicalJson({ when: new Date(0) })).toBe('{"when":"1970-01-01T00:00:00.000Z"}');
  });
});

describe('uploadDigest', () => {
  let dir: string;
  const file = (name: string, bytes: string) => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'upload-digest-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is the same for the same fields, file name and bytes, and differs when any differs', async () => {
    const digest = async (path: string, filename: string, fields: object) =>
      (await uploadDigest({ file: { path, filename }, fields })).value;
    const first = await digest(file('a', 'image bytes'), 'a.jpg', { title: 'T', priority: 1 });
    // Spooled anew by the retry: another path, the same bytes.
    expect(await digest(file('b', 'image bytes'), 'a.jpg', { priority: 1, title: 'T' })).toBe(
      first,
    );
    expect(await digest(file('c', 'other bytes'), 'a.jpg', { title: 'T', priority: 1 })).not.toBe(
      first,
    );
    expect(await digest(file('d', 'image bytes'), 'b.jpg', { title: 'T', priority: 1 })).not.toBe(
      first,
    );
    expect(await digest(file('e', 'image bytes'), 'a.jpg', { title: 'T', priority: 2 })).not.toBe(
      first,
    );
  });
});

describe(BodyTap.name, () => {
  it('passes the body on unchanged and has its digest once the body has been read', async () => {
    const payload = new PassThrough();
    const tap = BodyTap.over(payload);
    payload.end('{"image_id": "x"}');
    expect(tap.value).toBeUndefined();
    expect(await text(tap)).toBe('{"image_id": "x"}');
    expect(tap.receivedEncodedLength).toBe(17);
    const again = BodyTap.over(Readable.from([Buffer.from('{"image_id":'), Buffer.from(' "x"}')]));
    await text(again);
    expect(again.value).toBe(tap.value);
    expect(await tap.settle()).toBe(tap.value);
  });

  it('fails its reader when the request is cut off mid-body', async () => {
    const payload = new PassThrough();
    const tap = BodyTap.over(payload);
    payload.write('{"image');
    payload.destroy();
    await expect(text(tap)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(tap.value).toBeUndefined();
  });
});

describe(RowsDigest.name, () => {
  const rows = (...titles: string[]) => titles.map((title) => ({ url: 'https://x/a.png', title }));

  it('hashes the rows as the import reads them, and is known once it has read them all', async () => {
    const digest = new RowsDigest('csv');
    const read: unknown[] = [];
    for await (const row of digest.wrap(rows('a', 'b'))) {
      expect(digest.value).toBeUndefined();
      read.push(row);
    }
    expect(read).toEqual(rows('a', 'b'));
    const retry = new RowsDigest('csv');
    retry.wrap(rows('a', 'b'));
    // A retry reads its rows only to compare them.
    expect(await retry.settle()).toBe(digest.value);
  });

  it('differs for other rows, another order or another format', async () => {
    const of = (format: string, ...titles: string[]) => {
      const digest = new RowsDigest(format);
      digest.wrap(rows(...titles));
      return digest.settle();
    };
    const first = await of('csv', 'a', 'b');
    expect(await of('csv', 'b', 'a')).not.toBe(first);
    expect(await of('csv', 'a', 'c')).not.toBe(first);
    expect(await of('csv', 'a')).not.toBe(first);
    expect(await of('json', 'a', 'b')).not.toBe(first);
  });
});
