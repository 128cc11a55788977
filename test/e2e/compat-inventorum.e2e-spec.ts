import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { Role } from '../../src/auth/roles';
import { addUser, filesBelow, otherOrganisationAdmin } from '../support/accounts';
import { htmlBytes, noisyPng, solidJpeg } from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart, type FieldPart } from '../support/multipart';
import { fetchDelivered, PUBLIC_BASE } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { theWorkOnce } from '../support/idempotent-answers';

/**
 * Inventorum's `POST /images`, as its document prints it, sent with the real curl to the service
 * listening on loopback: only the host, the token and the file are changed. The printed command
 * sets `content-type: multipart/form-data; boundary=----WebKitFormBoundary…` itself and sends
 * `-F` parts, so curl sends two boundary parameters (checked below); and it sends the image as
 * `-F 'image=image-file.jpg'`, a text field: the test's own command sends the file
 * (`image=@image-file.jpg`), the document's verbatim one is shown what it gets.
 */

const WEBKIT_BOUNDARY = '----WebKitFormBoundary7MA4YWxkTrZu0gW';
/** What Inventorum's document shows for a missing image. */
const DOCUMENTED_ERROR = {
  error: {
    fields: { image: ['This field is required.'] },
    description: 'Serialization error',
    key: 'common.serializer_error',
  },
};
const RENDITIONS = ['card', 'large', 'thumb'];
const MAX_UPLOAD_BYTES = 400_000;

interface CurlResult {
  status: number;
  contentType: string;
  body: string;
}

interface InventorumRequest {
  /** Default: the printed `/api/images/`. */
  path?: string;
  token?: string;
  /** `-F` parts after the headers; default: the image file and `type=product`. */
  form?: string[];
  /** Default: `12`, as printed; null leaves the header out. */
  version?: string | null;
}

/**
 * The document's command: `curl -X POST <url> -H … -F …`, as printed, with `--silent`,
 * `--show-error` and `--write-out` appended so that the status can be read (they change what curl
 * prints, not what it sends).
 */
function inventorumCurlArgs(base: string, request: InventorumRequest = {}): string[] {
  const version = request.version === undefined ? '12' : request.version;
  return [
    '-X',
    'POST',
    `${base}${request.path ?? '/api/images/'}`,
    '-H',
    'Accept: application/json',
    ...(request.token === undefined ? [] : ['-H', `Authorization: Bearer ${request.token}`]),
    ...(version === null ? [] : ['-H', `X-Api-Version: ${version}`]),
    '-H',
    `content-type: multipart/form-data; boundary=${WEBKIT_BOUNDARY}`,
    ...(request.form ?? ['image=@image-file.jpg', 'type=product']).flatMap((part) => ['-F', part]),
  ];
}

function curl(args: string[], cwd: string): Promise<CurlResult> {
  const output = ['--silent', '--show-error', '--write-out', '\n%{http_code} %{content_type}'];
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      ['--max-time', '30', ...args, ...output],
      { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd } },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`curl failed: ${error.message} ${stderr}`));
        const cut = stdout.lastIndexOf('\n');
        const [status, contentType = ''] = stdout.slice(cut + 1).split(' ');
        resolve({ status: Number(status), contentType, body: stdout.slice(0, cut) });
      },
    );
  });
}

/** The request curl sends for these arguments, as a loopback listener receives it. */
async function requestCurlSends(args: string[], cwd: string): Promise<string> {
  let received = Buffer.alloc(0);
  const server: Server = createServer((socket) => {
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.includes('--\r\n') && received.includes('\r\n\r\n')) {
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    await curl(
      args.map((a) => a.replace(/^http:\/\/127\.0\.0\.1:\d+/, `http://127.0.0.1:${port}`)),
      cwd,
    );
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  return received.toString('latin1');
}

describe('Inventorum: POST /api/images/ (its own curl command)', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let ds: DataSource;
  let base: string;
  let work: string;
  let mediaDir: string;
  let spoolDir: string;
  let jpeg: Buffer;
  const c: Record<string, Credential> = {};
  const tokens: Record<string, string> = {};

  function tokenOf(credential: Credential): string {
    if (credential && 'bearer' in credential) return credential.bearer;
    if (credential && 'apiKey' in credential) return credential.apiKey;
    throw new Error('no token');
  }

  async function createKey(body: object): Promise<string> {
    const res = await call(app, 'POST', '/api/v1/api-keys', c.admin, body);
    expect(res.statusCode).toBe(201);
    return res.json().key;
  }

  function send(request: InventorumRequest = {}): Promise<CurlResult> {
    return curl(inventorumCurlArgs(base, { token: tokens.staff, ...request }), work);
  }

  async function rows(): Promise<Record<string, unknown>[]> {
    return ds.query('SELECT * FROM images ORDER BY number');
  }

  function storedFiles(): string[] {
    return filesBelow(mediaDir)
      .map((f) => relative(mediaDir, f).split(sep).join('/'))
      .filter((key) => !key.startsWith('.tmp/'))
      .sort();
  }

  async function snapshot() {
    return { rows: (await rows()).map((r) => r.id), files: storedFiles() };
  }

  /** A refused upload left no row, no stored file and no spooled file. */
  async function expectNothingLeft(before: { rows: unknown[]; files: string[] }) {
    expect((await rows()).map((r) => r.id)).toEqual(before.rows);
    expect(storedFiles()).toEqual(before.files);
    const deadline = Date.now() + 5000;
    while (filesBelow(spoolDir).length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(filesBelow(spoolDir)).toEqual([]);
  }

  function expectEnvelope(result: CurlResult, status: number) {
    expect(result.status).toBe(status);
    expect(result.contentType).toMatch(/^application\/json/);
    return JSON.parse(result.body) as typeof DOCUMENTED_ERROR;
  }

  interface Created {
    id: number;
    urls: Record<string, string>;
    type: number;
    new: boolean;
  }

  /** A 200 with exactly Inventorum's fields, each of its type; the row and files it made. */
  async function expectCreated(result: CurlResult, type: number, purpose: string) {
    expect(result.status).toBe(200);
    expect(result.contentType).toMatch(/^application\/json/);
    const body = JSON.parse(result.body) as Created;
    expect(Object.keys(body).sort()).toEqual(['id', 'new', 'type', 'urls']);
    expect(Number.isSafeInteger(body.id) && body.id > 0).toBe(true);
    expect(body.type).toBe(type);
    expect(body.new).toBe(true);
    // Inventorum's own keys too, which its clients read whatever the renditions are named.
    const keys = ['image', 'original', 'thumb_retina', 'ipad', 'ipad_retina', 'ebay'];
    expect(Object.keys(body.urls).sort()).toEqual([...new Set([...keys, ...RENDITIONS])].sort());
    for (const url of Object.values(body.urls)) {
      expect(typeof url).toBe('string');
      expect(url.startsWith(`${PUBLIC_BASE}/media/uploads/`)).toBe(true);
    }
    // Inventorum's `image` is its `ipad` rendition, a display size: here the largest rendition.
    expect(body.urls.image).toBe(body.urls.large);
    expect(body.urls).toMatchObject({
      ipad: body.urls.large,
      ebay: body.urls.large,
      thumb_retina: body.urls.card,
      ipad_retina: body.urls.original,
    });
    const [row] = await ds.query<
      {
        id: string;
        storage_key: string;
        product_id: string | null;
        purpose: string;
        expires_at: Date | null;
        organization_id: string;
      }[]
    >('SELECT * FROM images WHERE number = $1', [body.id]);
    expect(row).toMatchObject({ product_id: null, purpose, expires_at: null });
    expect(body.urls.original).toBe(`${PUBLIC_BASE}/media/${row.storage_key}`);
    for (const url of Object.values(body.urls)) {
      const delivered = await fetchDelivered(app, url);
      expect(delivered.status).toBe(200);
      const key = url.slice(`${PUBLIC_BASE}/media/`.length);
      expect(storedFiles()).toContain(key);
      expect(delivered.body.equals(readFileSync(join(mediaDir, key)))).toBe(true);
    }
    return { body, row };
  }

  beforeAll(async () => {
    jpeg = await solidJpeg(48, 32);
    t = await startTestApp({
      PUBLIC_BASE_URL: PUBLIC_BASE,
      MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
    });
    app = t.app;
    ds = app.get(DataSource);
    mediaDir = join(t.db.env.DATA_DIR, 'media');
    spoolDir = join(t.db.env.DATA_DIR, 'tmp', 'uploads');
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.getHttpServer().address() as { port: number };
    base = `http://127.0.0.1:${port}`;
    work = mkdtempSync(join(tmpdir(), 'inventorum-'));
    writeFileSync(join(work, 'image-file.jpg'), jpeg);
    writeFileSync(join(work, 'image-file.png'), await noisyPng(20, 20));
    writeFileSync(join(work, 'page.html'), htmlBytes());
    writeFileSync(join(work, 'large.png'), await noisyPng(400, 400));

    c.admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    c.staff = await addUser(app, c.admin, 'stella', Role.Staff);
    c.user = await addUser(app, c.admin, 'ursula', Role.User);
    c.other = await otherOrganisationAdmin(app, 'elsewhere', 'olaf');
    for (const name of ['admin', 'staff', 'user', 'other']) tokens[name] = tokenOf(c[name]);
    tokens.writeKey = await createKey({
      name: 'inventorum machine client',
      role: Role.Staff,
      scopes: ['images:write'],
    });
    tokens.readKey = await createKey({
      name: 'reader',
      role: Role.Staff,
      scopes: ['images:read', 'products:read'],
    });
  });

  afterAll(async () => {
    await t?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('curl sends two boundary parameters for the printed command, its own last', async () => {
    const sent = await requestCurlSends(inventorumCurlArgs(base, { token: 't' }), work);
    const [contentType] = /^content-type: .*$/im.exec(sent) ?? [''];
    const boundaries = [...contentType.matchAll(/boundary=([^;\r\n]+)/g)].map((m) => m[1]);
    expect(boundaries).toHaveLength(2);
    expect(boundaries[0]).toBe(WEBKIT_BOUNDARY);
    expect(sent.split('\r\n\r\n').slice(1).join('\r\n\r\n')).toMatch(
      new RegExp(`^--${boundaries[1]}\r\n`),
    );
  });

  it('answers the printed command (the file sent, X-Api-Version 12) with 200 and exactly its fields', async () => {
    const result = await send();
    const { body, row } = await expectCreated(result, 0, 'product');
    const [admin] = await ds.query(`SELECT organization_id FROM users WHERE username = 'stella'`);
    expect(row.organization_id).toBe(admin.organization_id);
    expect(storedFiles().filter((f) => f.startsWith(`uploads/${row.id}/`))).toEqual(
      ['card.webp', 'large.webp', 'original.jpg', 'thumb.webp'].map(
        (f) => `uploads/${row.id}/${f}`,
      ),
    );
    // The image is one of the organisation's stand-alone images in the main API.
    const listed = await call(app, 'GET', '/api/v1/images?purpose=product', c.staff);
    expect(listed.statusCode).toBe(200);
    expect(listed.json().items.map((i: { key: string }) => i.key)).toContain(row.storage_key);
    expect(body.urls.original.endsWith('/original.jpg')).toBe(true);
  });

  it('answers POST /api/images (without the trailing slash) the same way', async () => {
    await expectCreated(await send({ path: '/api/images' }), 0, 'product');
  });

  it('numbers images in order, as integers', async () => {
    const first = JSON.parse((await send()).body) as Created;
    const second = JSON.parse((await send({ path: '/api/images' })).body) as Created;
    expect(second.id).toBeGreaterThan(first.id);
  });

  it.each([
    ['account', 1],
    ['user', 2],
    ['category', 3],
  ])('stores type %s as that purpose and answers type %d', async (type, number) => {
    const result = await send({ form: ['image=@image-file.png', `type=${type}`] });
    await expectCreated(result, number, type);
  });

  it('takes the last of a repeated type, as Django reads a repeated form field', async () => {
    // QueryDict.__getitem__ and .get (what Django REST framework's fields read) answer the last
    // value of a field sent more than once; the ones before it are not read, valid or not.
    await expectCreated(
      await send({ form: ['type=user', 'image=@image-file.jpg', 'type=account'] }),
      1,
      'account',
    );
    await expectCreated(
      await send({ form: ['image=@image-file.jpg', 'type=banner', 'type=category'] }),
      3,
      'category',
    );
    const before = await snapshot();
    const last = await send({ form: ['image=@image-file.jpg', 'type=product', 'type=banner'] });
    expect(expectEnvelope(last, 400).error.fields).toEqual({
      type: ['"banner" is not a valid choice.'],
    });
    await expectNothingLeft(before);
  });

  it('reads the file from product_image for X-Api-Version 7 and earlier', async () => {
    for (const version of ['7', '3']) {
      const result = await send({
        version,
        form: ['product_image=@image-file.jpg', 'type=product'],
      });
      await expectCreated(result, 0, 'product');
    }
    // …where `image` is not the file field, and is ignored as an unknown field.
    const before = await snapshot();
    const wrongName = await send({ version: '7', form: ['image=@image-file.jpg', 'type=product'] });
    expect(expectEnvelope(wrongName, 400)).toEqual({
      error: { ...DOCUMENTED_ERROR.error, fields: { product_image: ['This field is required.'] } },
    });
    await expectNothingLeft(before);
  });

  it('takes no type for X-Api-Version 1 and 2, which have none: a product image', async () => {
    for (const version of ['1', '2']) {
      await expectCreated(
        await send({ version, form: ['product_image=@image-file.jpg'] }),
        0,
        'product',
      );
      // A type sent anyway is a field the version does not know: ignored.
      await expectCreated(
        await send({ version, form: ['product_image=@image-file.jpg', 'type=user'] }),
        0,
        'product',
      );
    }
    // From version 3 on it is required.
    const before = await snapshot();
    const untyped = await send({ version: '3', form: ['product_image=@image-file.jpg'] });
    expect(expectEnvelope(untyped, 400).error.fields).toEqual({
      type: ['This field is required.'],
    });
    await expectNothingLeft(before);
  });

  it('takes the latest version (image) when X-Api-Version is absent', async () => {
    await expectCreated(await send({ version: null }), 0, 'product');
    const before = await snapshot();
    const old = await send({ version: null, form: ['product_image=@image-file.jpg', 'type=user'] });
    expect(expectEnvelope(old, 400)).toEqual(DOCUMENTED_ERROR);
    await expectNothingLeft(before);
  });

  it('Idempotency-Key: a retry, also one sent at once beside the first, makes no second image', async () => {
    // As on the main API's stand-alone upload, which this route is (README, "Idempotent retries").
    const before = (await rows()).length;
    const send = (type: string) => {
      const body = multipart({ type }, [{ data: jpeg, filename: 'photo.jpg' }]);
      return call(app, 'POST', '/api/images/', { bearer: tokens.writeKey }, body.payload, {
        headers: { ...body.headers, 'x-api-version': '12', 'idempotency-key': 'inventorum-1' },
      });
    };
    const [first, beside] = await Promise.all([send('product'), send('product')]);
    const answered = theWorkOnce([first, beside], 200);
    const retry = await send('product');
    expect(retry.statusCode).toBe(200);
    expect(retry.body).toBe(answered.body);
    expect((await rows()).length).toBe(before + 1);
    const reused = await send('account');
    expect(reused.statusCode).toBe(422);
    expect(reused.headers['content-type']).toContain('application/problem+json');
    expect(reused.json()).toMatchObject({ code: 'idempotency_key_reused' });
    expect((await rows()).length).toBe(before + 1);
  });

  it('Idempotency-Key: its two paths are one upload, a retry through the other replayed', async () => {
    // A client whose retry goes to the other path (its base URL set anew, a library adding or
    // dropping the slash) repeats the same request to the same route: it was 422
    // idempotency_key_reused, its first answer lost.
    const upload = (path: string, key: string) => {
      const body = multipart({ type: 'product' }, [{ data: jpeg, filename: 'photo.jpg' }]);
      return call(app, 'POST', path, { bearer: tokens.writeKey }, body.payload, {
        headers: { ...body.headers, 'x-api-version': '12', 'idempotency-key': key },
      });
    };
    const before = (await rows()).length;
    for (const [path, others] of [
      ['/api/images/', ['/api/images', '/api/image%73']],
      ['/api/images', ['/api/images/', '/api/image%73/']],
    ] as const) {
      const key = `inventorum-paths-${path}`;
      const first = await upload(path, key);
      expect(first.statusCode).toBe(200);
      for (const other of others) {
        const retry = await upload(other, key);
        expect({ other, status: retry.statusCode, body: retry.body }).toEqual({
          other,
          status: 200,
          body: first.body,
        });
      }
    }
    // A key recorded before the two paths were one, with the path it was sent to, is still
    // replayed to a retry through that path (or the other).
    const recorded = 'inventorum-paths-recorded';
    const first = await upload('/api/images', recorded);
    await ds.query(`UPDATE idempotency_keys SET request_path = '/api/images' WHERE key = $1`, [
      recorded,
    ]);
    for (const path of ['/api/images', '/api/images/']) {
      expect((await upload(path, recorded)).body).toBe(first.body);
    }
    expect((await rows()).length).toBe(before + 3);
  });

  it("Idempotency-Key: the main API's stand-alone upload with the same key and file is another request (422)", async () => {
    // The same caller's key names one request: this route and `POST /api/v1/images` store the
    // same image but answer it in other shapes, so neither replays the other's answer (README,
    // "Idempotent retries": the same method, path and payload), whichever came first.
    const inventorum = (key: string) => {
      const body = multipart({ type: 'product' }, [{ data: jpeg, filename: 'photo.jpg' }]);
      return call(app, 'POST', '/api/images/', { bearer: tokens.writeKey }, body.payload, {
        headers: { ...body.headers, 'x-api-version': '12', 'idempotency-key': key },
      });
    };
    const main = (key: string) => {
      const body = multipart({ purpose: 'product' }, [{ data: jpeg, filename: 'photo.jpg' }]);
      return call(app, 'POST', '/api/v1/images', { bearer: tokens.writeKey }, body.payload, {
        headers: { ...body.headers, 'idempotency-key': key },
      });
    };
    for (const [first, then, status] of [
      [main, inventorum, 201],
      [inventorum, main, 200],
    ] as const) {
      const key = `inventorum-or-main-${status}`;
      expect((await first(key)).statusCode).toBe(status);
      const before = (await rows()).length;
      const reused = await then(key);
      expect({ status: reused.statusCode, body: reused.json<unknown>() }).toMatchObject({
        status: 422,
        body: { code: 'idempotency_key_reused' },
      });
      expect((await rows()).length).toBe(before);
    }
  });

  it.each([
    ['empty', ''],
    ['over 255 characters', 'k'.repeat(256)],
    ['not printable ASCII', 'clé-1'],
    ['sent twice', ['inventorum-twice', 'inventorum-twice']],
  ])('Idempotency-Key %s: ignored, as before the routes took the header', async (_, key) => {
    // Its document never named the header: a client sending some value of its own in it is served
    // as one sending none (each request its image), not refused 400 invalid_idempotency_key.
    const before = (await rows()).length;
    const send = () => {
      const body = multipart({ type: 'product' }, [{ data: jpeg, filename: 'photo.jpg' }]);
      return call(app, 'POST', '/api/images/', { bearer: tokens.writeKey }, body.payload, {
        headers: { ...body.headers, 'x-api-version': '12', 'idempotency-key': key },
      });
    };
    for (const res of [await send(), await send()]) {
      expect({ status: res.statusCode, body: res.json<unknown>() }).toMatchObject({
        status: 200,
        body: { new: true },
      });
    }
    expect((await rows()).length).toBe(before + 2);
  });

  it('takes an API key as the bearer token (a machine client)', async () => {
    await expectCreated(await send({ token: tokens.writeKey }), 0, 'product');
  });

  it('describes urls.image in OpenAPI as it is answered: the largest rendition, not the original', async () => {
    const res = await call(app, 'GET', '/docs-json');
    expect(res.statusCode).toBe(200);
    const document = res.json();
    const urls = document.components.schemas.InventorumImageDto.properties.urls.allOf[0];
    expect(urls.properties.image.description).not.toMatch(/original, again/i);
    expect(urls.properties.image.description).toMatch(/largest rendition/);
    for (const path of ['/api/images/', '/api/images']) {
      const { example } = document.paths[path].post.responses['200'].content['application/json'];
      expect(example.urls.image).toBe(example.urls.large);
    }
  });

  describe('errors', () => {
    it("answers a missing image with the document's envelope, exactly", async () => {
      const before = await snapshot();
      for (const path of ['/api/images/', '/api/images']) {
        const result = await send({ path, form: ['type=product'] });
        expect(expectEnvelope(result, 400)).toEqual(DOCUMENTED_ERROR);
      }
      await expectNothingLeft(before);
    });

    it('answers the printed -F image=image-file.jpg (a text value) in the envelope: not a file', async () => {
      const before = await snapshot();
      const result = await send({ form: ['image=image-file.jpg', 'type=product'] });
      expect(expectEnvelope(result, 400)).toEqual({
        error: {
          fields: {
            image: ['The submitted data was not a file. Check the encoding type on the form.'],
          },
          description: 'Serialization error',
          key: 'common.serializer_error',
        },
      });
      await expectNothingLeft(before);
    });

    it('answers an unknown or missing type, and both fields wrong, by field', async () => {
      const before = await snapshot();
      const unknown = await send({ form: ['image=@image-file.jpg', 'type=banner'] });
      expect(expectEnvelope(unknown, 400)).toEqual({
        error: {
          fields: { type: ['"banner" is not a valid choice.'] },
          description: 'Serialization error',
          key: 'common.serializer_error',
        },
      });
      const missing = await send({ form: ['image=@image-file.jpg'] });
      expect(expectEnvelope(missing, 400).error.fields).toEqual({
        type: ['This field is required.'],
      });
      const neither = await send({ form: ['name=x'] });
      expect(expectEnvelope(neither, 400).error.fields).toEqual({
        image: ['This field is required.'],
        type: ['This field is required.'],
      });
      await expectNothingLeft(before);
    });

    it('echoes a long unknown type cut between characters, never inside one', async () => {
      // The 64th character is an emoji, two UTF-16 units: cut between them, the answer carried a
      // lone surrogate (`\ud83d`), which a strict JSON reader refuses and no UTF-8 text can hold.
      const type = `${'a'.repeat(63)}😀${'b'.repeat(10)}`;
      const form = multipart({ type }, [{ data: jpeg, filename: 'a.jpg' }]);
      const res = await call(app, 'POST', '/api/images/', { bearer: tokens.staff }, form.payload, {
        headers: form.headers,
      });
      expect(res.statusCode).toBe(400);
      expect(res.body).not.toMatch(/\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])/i);
      expect(res.json().error.fields).toEqual({
        type: [`"${'a'.repeat(63)}😀…" is not a valid choice.`],
      });
    });

    it('answers two image files by the field the version names (product_image up to 7)', async () => {
      const before = await snapshot();
      for (const [version, field] of [
        ['7', 'product_image'],
        ['12', 'image'],
      ]) {
        const file = { name: field, data: jpeg, filename: 'a.jpg' };
        const form = multipart({ type: 'product' }, [file, file]);
        const res = await call(
          app,
          'POST',
          '/api/images/',
          { bearer: tokens.staff },
          form.payload,
          {
            headers: { ...form.headers, 'x-api-version': version },
          },
        );
        expect(res.statusCode).toBe(400);
        expect(res.json().error.fields).toEqual({
          [field]: [`Send exactly one file, as "${field}".`],
        });
      }
      await expectNothingLeft(before);
    });

    it('answers a file that is not an image in the envelope, storing nothing', async () => {
      const before = await snapshot();
      const result = await send({ form: ['image=@page.html;type=image/jpeg', 'type=product'] });
      expect(expectEnvelope(result, 400)).toEqual({
        error: {
          fields: {
            image: [
              'Upload a valid image. The file you uploaded was either not an image or a corrupted image.',
            ],
          },
          description: 'Serialization error',
          key: 'common.serializer_error',
        },
      });
      await expectNothingLeft(before);
    });

    it('answers a file over the upload limit with 413 in the envelope, storing nothing', async () => {
      const before = await snapshot();
      const result = await send({ form: ['image=@large.png', 'type=product'] });
      expect(expectEnvelope(result, 413)).toEqual({
        error: {
          fields: {
            image: [`The file is larger than the upload limit (${MAX_UPLOAD_BYTES} bytes).`],
          },
          description: `The file is larger than the upload limit (${MAX_UPLOAD_BYTES} bytes).`,
          key: 'common.file_too_large',
        },
      });
      await expectNothingLeft(before);
    });

    it('refuses a file it ignores the moment it crosses the upload limit, not after the rest of the body', async () => {
      // A file the form does not read (Inventorum ignores unknown fields) was drained to its end:
      // a chunked body, which announces no length, was read for as long as its client sent it.
      const before = await snapshot();
      const boundary = 'ignored-file-boundary';
      const head = Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\nproduct\r\n` +
          `--${boundary}\r\nContent-Disposition: form-data; name="attachment"; ` +
          'filename="side.bin"\r\nContent-Type: application/octet-stream\r\n\r\n',
      );
      const answer = await new Promise<string>((resolve) => {
        const socket = connect(Number(new URL(base).port), '127.0.0.1');
        let received = '';
        // The body never ends: only an answer before its end ends this wait early.
        const timer = setTimeout(() => socket.destroy(), 5000);
        socket.on('data', (data: Buffer) => (received += data.toString('latin1')));
        socket.on('error', () => undefined);
        socket.on('close', () => {
          clearTimeout(timer);
          resolve(received);
        });
        const chunk = (bytes: Buffer) =>
          socket.write(
            Buffer.concat([
              Buffer.from(`${bytes.length.toString(16)}\r\n`),
              bytes,
              Buffer.from('\r\n'),
            ]),
          );
        socket.write(
          'POST /api/images/ HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
            `Authorization: Bearer ${tokens.staff}\r\nX-Api-Version: 12\r\n` +
            `Content-Type: multipart/form-data; boundary=${boundary}\r\n` +
            'Transfer-Encoding: chunked\r\n\r\n',
        );
        chunk(head);
        chunk(Buffer.alloc(MAX_UPLOAD_BYTES + 65536, 7));
      });
      expect(answer).toMatch(/^HTTP\/1\.1 413 /);
      const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
      expect(body).toContain('"key":"common.file_too_large"');
      expect(body).toContain(`upload limit (${MAX_UPLOAD_BYTES} bytes)`);
      await expectNothingLeft(before);
    });

    it('answers a body that is not multipart with 415 problem+json (JSON, a form, none)', async () => {
      for (const [type, payload] of [
        ['application/json', '{"image": "image-file.jpg", "type": "product"}'],
        ['application/x-www-form-urlencoded', 'image=image-file.jpg&type=product'],
        [undefined, undefined],
      ]) {
        const res = await app.inject({
          method: 'POST',
          url: '/api/images/',
          headers: {
            authorization: `Bearer ${tokens.staff}`,
            ...(type ? { 'content-type': type } : {}),
          },
          ...(payload ? { payload } : {}),
        });
        expect(res.statusCode).toBe(415);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.json().code).toBe('unsupported_media_type');
      }
    });

    it('reads a body with a preamble before its first boundary (RFC 2046), with one or two boundary parameters', async () => {
      // RFC 2046 §5.1.1 (and RFC 7578 §4.1 for forms): text before the first delimiter line is a
      // preamble, which the receiver ignores. With two boundary parameters, the body's own is the
      // one whose delimiter line comes first, wherever the preamble puts it, in either order.
      const form = multipart({ type: 'product' }, [{ data: jpeg, filename: 'a.jpg' }]);
      const own = form.headers['content-type'].split('boundary=')[1];
      const preamble = Buffer.from(
        `This is a multi-part message in MIME format; not --other, nor --${own}x.\r\n`,
      );
      const payload = Buffer.concat([preamble, form.payload]);
      for (const parameters of [
        `boundary=${own}`,
        `boundary=other; boundary=${own}`,
        `boundary=${own}; boundary=other`,
      ]) {
        const before = (await rows()).length;
        const res = await app.inject({
          method: 'POST',
          url: '/api/images/',
          headers: {
            authorization: `Bearer ${tokens.staff}`,
            'content-type': `multipart/form-data; ${parameters}`,
          },
          payload,
        });
        expect({ parameters, status: res.statusCode }).toEqual({ parameters, status: 200 });
        expect(Object.keys(res.json()).sort()).toEqual(['id', 'new', 'type', 'urls']);
        expect(await rows()).toHaveLength(before + 1);
      }
    });

    it('refuses a body whose boundaries are none of its own (400 in the envelope)', async () => {
      const form = multipart({ type: 'product' }, [{ data: jpeg, filename: 'a.jpg' }]);
      const res = await app.inject({
        method: 'POST',
        url: '/api/images/',
        headers: {
          authorization: `Bearer ${tokens.staff}`,
          'content-type': `multipart/form-data; boundary=${WEBKIT_BOUNDARY}; boundary=other`,
        },
        payload: form.payload,
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.key).toMatch(/^common\./);
    });

    it('refuses a JSON body 415 unread, whatever it holds: no parser error in the envelope', async () => {
      // A JSON body was parsed before the route refused it 415: one too deep, not JSON or too
      // large was answered 400 or 413 (in the envelope) for a body the route never takes.
      for (const payload of [
        '['.repeat(10_000) + ']'.repeat(10_000),
        '{"type": "product", "image": ',
        Buffer.from('{"type": "\u0000\xff"}', 'latin1'),
        `{"type": "${'x'.repeat(1024 * 1024)}"}`,
      ]) {
        const res = await app.inject({
          method: 'POST',
          url: '/api/images/',
          headers: { authorization: `Bearer ${tokens.staff}`, 'content-type': 'application/json' },
          payload,
        });
        expect(res.statusCode).toBe(415);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.json().code).toBe('unsupported_media_type');
      }
    });

    it('says in OpenAPI which refusals are in the envelope, by the keys it answers', async () => {
      const document = (await call(app, 'GET', '/docs-json')).json();
      for (const path of ['/api/images/', '/api/images']) {
        const op = document.paths[path].post;
        expect(op.description).not.toMatch(/JSON parser's refusals[^.]*problem\+json/);
        expect(op.description).toMatch(/not multipart[^.]*415, unread/);
        const enveloped = (status: string) => op.responses[status].description.split('\n\n')[0];
        for (const key of [
          'common.invalid_multipart',
          'common.serializer_error',
          'common.bad_request',
        ]) {
          expect(enveloped('400')).toContain(`\`${key}\``);
        }
        expect(enveloped('413')).toContain('`common.file_too_large`');
        // A JSON body is refused 415 before it is read: its parser's refusals are never answered.
        for (const key of ['common.malformed_json', 'common.payload_too_large']) {
          expect(enveloped('400') + enveloped('413')).not.toContain(key);
        }
        // Only the envelope: no problem+json body is ever sent for these two statuses here.
        for (const status of ['400', '413']) {
          expect(Object.keys(op.responses[status].content)).toEqual(['application/json']);
        }
      }
    });

    it('documents every status but 200, 400 and 413 as problem+json, and says so (408 included)', async () => {
      // A body too slow is cut 408 request_timeout on the socket, problem+json as everywhere; the
      // description named only 401, 403, 415 and 5xx.
      const document = (await call(app, 'GET', '/docs-json')).json();
      for (const path of ['/api/images/', '/api/images']) {
        const op = document.paths[path].post;
        const others = Object.keys(op.responses).filter((s) => !['200', '400', '413'].includes(s));
        expect(others).toEqual(expect.arrayContaining(['401', '403', '408', '415', '431', '503']));
        for (const status of others) {
          expect({ status, types: Object.keys(op.responses[status].content) }).toEqual({
            status,
            types: ['application/problem+json'],
          });
        }
        expect(op.description).toMatch(
          /Every other status[^.]*408[^.]*`application\/problem\+json`/,
        );
      }
    });

    it('ignores an unknown field typed application/json; one that is not JSON is refused', async () => {
      const post = (fields: Record<string, FieldPart>) => {
        const form = multipart(fields, [{ data: jpeg, filename: 'a.jpg' }]);
        return call(app, 'POST', '/api/images/', { bearer: tokens.staff }, form.payload, {
          headers: form.headers,
        });
      };
      const json = { value: '{"note": 1}', contentType: 'application/json' };
      const taken = await post({ type: 'product', note: json });
      expect(taken.statusCode).toBe(200);
      expect(taken.json().type).toBe(0);
      // The multipart reader parses a part typed JSON before the form is read: one that is not
      // JSON, or a field named as a built-in property, refuses the form (in the envelope).
      const before = await snapshot();
      const refused: Record<string, FieldPart>[] = [
        { type: 'product', note: { value: 'hello', contentType: 'application/json' } },
        { type: 'product', constructor: 'x' },
      ];
      for (const fields of refused) {
        const res = await post(fields);
        expect(res.statusCode).toBe(400);
        expect(res.json().error.key).toBe('common.invalid_multipart');
      }
      // `type` itself typed JSON: its text is not what was sent, so it is refused by name.
      const typed = await post({ type: { value: '"product"', contentType: 'application/json' } });
      expect(typed.statusCode).toBe(400);
      expect(Object.keys(typed.json().error.fields)).toEqual(['type']);
      await expectNothingLeft(before);
    });

    it('ignores unknown parts within the multipart limits of every route, and says which it met', async () => {
      const post = (fields: Record<string, string>, extraFiles: number) => {
        const others = Array.from({ length: extraFiles }, (_, i) => ({
          name: `side${i}`,
          data: jpeg,
          filename: `side${i}.jpg`,
        }));
        const form = multipart(fields, [...others, { data: jpeg, filename: 'a.jpg' }]);
        return call(app, 'POST', '/api/images/', { bearer: tokens.staff }, form.payload, {
          headers: form.headers,
        });
      };
      const nine = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`extra${i}`, 'x']));
      // One file besides the image and ten text fields in all (type and nine others): ignored.
      expect((await post({ type: 'product', ...nine, last: 'x' }, 1)).statusCode).toBe(200);
      const before = await snapshot();
      // A third file: refused, in the envelope, naming the limit met (not "exactly one file",
      // which this form sent as image).
      const files = await post({ type: 'product' }, 2);
      expect(files.statusCode).toBe(400);
      expect(files.json().error).toMatchObject({
        key: 'common.too_many_files',
        description: expect.stringMatching(/at most two file parts/),
      });
      // An eleventh text field: 413.
      const fields = await post({ type: 'product', ...nine, last: 'x', more: 'x' }, 0);
      expect(fields.statusCode).toBe(413);
      expect(fields.json().error.key).toBe('common.too_many_parts');
      await expectNothingLeft(before);
    });

    it('answers 401 as problem+json, for no token and for a bad one', async () => {
      const before = await snapshot();
      for (const token of [undefined, 'not-a-token', 'pis_AAAAAAAA_' + 'a'.repeat(43)]) {
        const result = await curl(inventorumCurlArgs(base, { token }), work);
        expect(result.status).toBe(401);
        expect(result.contentType).toMatch(/^application\/problem\+json/);
        expect(JSON.parse(result.body).code).toMatch(
          /^(authentication_required|invalid_token|invalid_api_key)$/,
        );
      }
      await expectNothingLeft(before);
    });

    it('answers 403 as problem+json: a plain user, and a key without images:write', async () => {
      const before = await snapshot();
      const user = await send({ token: tokens.user });
      expect(user.status).toBe(403);
      expect(user.contentType).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(user.body).code).toBe('insufficient_role');
      const reader = await send({ token: tokens.readKey });
      expect(reader.status).toBe(403);
      expect(JSON.parse(reader.body)).toMatchObject({
        code: 'insufficient_scope',
        required_scopes: ['images:write'],
      });
      await expectNothingLeft(before);
    });

    it("stores another organisation's upload in that organisation", async () => {
      const result = await send({ token: tokens.other });
      const { row } = await expectCreated(result, 0, 'product');
      const [org] = await ds.query(`SELECT id FROM organizations WHERE slug = 'elsewhere'`);
      expect(row.organization_id).toBe(org.id);
    });
  });
});

describe('Inventorum with COMPAT_APIS not naming it', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ COMPAT_APIS: 'backoffice-uploader' });
  });
  afterAll(() => t?.close());

  it('serves neither path (404)', async () => {
    const admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const form = multipart({ type: 'product' }, [{ data: await solidJpeg(8, 8) }]);
    for (const url of ['/api/images/', '/api/images']) {
      const res = await call(t.app, 'POST', url, admin, form.payload, { headers: form.headers });
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('route_not_found');
    }
  });
});
