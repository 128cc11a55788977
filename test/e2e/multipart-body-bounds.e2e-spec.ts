import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { filesBelow } from '../support/accounts';
import { noiseBytes, noisyPng } from '../support/fixtures';
import { authHeaders, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

const MAX_UPLOAD_BYTES = 1024 * 1024;
const MAX_CSV_BYTES = 4 * 1024 * 1024;
const ROW = 'https://images.example.com/front-of-the-box-in-its-largest-size.jpg';

/** A CSV of at least `bytes` bytes, of rows that are each well-formed. */
function csvOf(bytes: number): { csv: Buffer; rows: number } {
  const header = 'gtin,url,title\n';
  const line = `4006381333931,${ROW},${'Front '.repeat(10)}\n`;
  const rows = Math.ceil((bytes - header.length) / line.length);
  return { csv: Buffer.from(header + line.repeat(rows)), rows };
}

/**
 * A multipart body announced by its Content-Length is refused unread when it is larger than the
 * route can take: what that is depends on the route. An upload takes one file of
 * MAX_UPLOAD_BYTES; a bulk import's CSV may be BULK_IMPORT_MAX_BYTES (64 MiB by default, beside a
 * 15 MiB upload limit); Inventorum's form may carry a file it ignores beside its image.
 */
describe('Multipart bodies bounded by what each route takes', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let storage: StorageBackend;
  let admin: Credential;

  beforeAll(async () => {
    storage = await startStorageBackend('local');
    t = await startTestApp({
      ...storage.env,
      SERVICE_ROLE: 'api',
      MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
      BULK_IMPORT_MAX_BYTES: String(MAX_CSV_BYTES),
    });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });

  afterAll(async () => {
    await t?.close();
    await storage?.close();
  });

  const count = async (table: 'imports' | 'images') =>
    (await app.get(DataSource).query<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${table}`))[0]
      .n;
  const spooled = () => filesBelow(join(t.db.env.DATA_DIR, 'tmp', 'uploads'));

  function post(url: string, form: ReturnType<typeof multipart>, headers = {}) {
    return app.inject({
      method: 'POST',
      url,
      headers: { ...authHeaders(admin), ...form.headers, ...headers },
      payload: form.payload,
    });
  }

  it('takes a CSV form larger than an upload can be, within BULK_IMPORT_MAX_BYTES (202)', async () => {
    // A CSV of 2 MiB in a form that announces its length was refused at once as an upload of an
    // image, 413 file_too_large naming the field "image", where the same form sent chunked (no
    // length announced) was taken.
    const { csv, rows } = csvOf(2 * MAX_UPLOAD_BYTES);
    const form = multipart({}, [
      { name: 'file', filename: 'rows.csv', data: csv, contentType: 'text/csv' },
    ]);
    const res = await post('/api/v1/imports', form);
    expect({ status: res.statusCode, body: res.json() }).toMatchObject({
      status: 202,
      body: { format: 'csv', counts: { total: rows } },
    });
  });

  it('refuses unread, as for a text/csv body, a CSV form announcing more than BULK_IMPORT_MAX_BYTES (413 payload_too_large)', async () => {
    const before = await count('imports');
    const { csv } = csvOf(MAX_CSV_BYTES + 600 * 1024);
    const form = multipart({}, [
      { name: 'file', filename: 'rows.csv', data: csv, contentType: 'text/csv' },
    ]);
    const res = await post('/api/v1/imports', form);
    expect(res.statusCode).toBe(413);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers.connection).toBe('close');
    expect(res.json()).toMatchObject({ code: 'payload_too_large', status: 413 });
    expect(await count('imports')).toBe(before);
  });

  it('takes an Inventorum form whose image and ignored file are each within MAX_UPLOAD_BYTES (200)', async () => {
    // Inventorum ignores a file part it does not know, up to MAX_UPLOAD_BYTES: with its image,
    // the form is larger than one upload, and was refused at once (413) when it announced so.
    const before = await count('images');
    const image = await noisyPng(560, 560);
    expect(image.length).toBeLessThan(MAX_UPLOAD_BYTES);
    const form = multipart({ type: 'product' }, [
      { name: 'image', filename: 'front.png', data: image, contentType: 'image/png' },
      { name: 'attachment', filename: 'side.bin', data: noiseBytes(MAX_UPLOAD_BYTES - 1024, 3) },
    ]);
    expect(form.payload.length).toBeGreaterThan(MAX_UPLOAD_BYTES + 512 * 1024);
    const res = await post('/api/images', form, { 'x-api-version': '12' });
    expect({ status: res.statusCode, type: res.headers['content-type'] }).toEqual({
      status: 200,
      type: expect.stringMatching(/^application\/json/),
    });
    expect(res.json()).toMatchObject({ type: 0, new: true });
    expect(await count('images')).toBe(before + 1);
    expect(spooled()).toEqual([]);
  });

  it('still refuses unread an Inventorum form announcing more than its two files can be (413)', async () => {
    const before = await count('images');
    const form = multipart({ type: 'product' }, [
      { name: 'image', filename: 'front.png', data: noiseBytes(MAX_UPLOAD_BYTES, 4) },
      { name: 'attachment', filename: 'side.bin', data: noiseBytes(MAX_UPLOAD_BYTES, 5) },
      { name: 'more', filename: 'back.bin', data: noiseBytes(MAX_UPLOAD_BYTES, 6) },
    ]);
    const res = await post('/api/images', form, { 'x-api-version': '12' });
    expect(res.statusCode).toBe(413);
    expect(res.headers.connection).toBe('close');
    expect(res.json()).toMatchObject({ error: { key: 'common.file_too_large' } });
    expect(await count('images')).toBe(before);
    expect(spooled()).toEqual([]);
  });

  it('still refuses unread an upload announcing more than one file can be (413 file_too_large)', async () => {
    const before = await count('images');
    const form = multipart({}, [
      { name: 'image', filename: 'a.png', data: noiseBytes(2 * MAX_UPLOAD_BYTES, 8) },
    ]);
    const res = await post('/api/v1/images', form);
    expect(res.statusCode).toBe(413);
    expect(res.headers.connection).toBe('close');
    expect(res.json()).toMatchObject({ code: 'file_too_large', errors: [{ field: 'image' }] });
    expect(await count('images')).toBe(before);
    expect(spooled()).toEqual([]);
  });
});
