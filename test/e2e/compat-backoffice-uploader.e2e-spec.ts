import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { Role } from '../../src/auth/roles';
import { addUser, filesBelow } from '../support/accounts';
import {
  animatedPng,
  avif,
  bmp,
  gif,
  htmlBytes,
  noiseBytes,
  noisyPng,
  safeSvg,
  solidJpeg,
  webp,
} from '../support/fixtures';
import { call, login, type Credential } from '../support/http';
import { multipart } from '../support/multipart';
import { sendWithLargeBody } from '../support/raw-http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { theWorkOnce } from '../support/idempotent-answers';

/**
 * The back-office uploader's "Upload Asset Image", as its document prints the request, sent with
 * the real curl to the service listening on loopback: only the host, the key and the file (the
 * document leaves it empty, `image=@""`) are changed.
 */

const MIB = 1024 * 1024;
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

interface CurlResult {
  status: number;
  contentType: string;
  body: string;
}

/**
 * The document's command: `curl --location --request POST '<url>' --header 'x-api-key: …'
 * --form 'image=@"…"'`, with `--silent`, `--show-error` and `--write-out` appended so that the
 * status can be read (they change what curl prints, not what it sends).
 */
function backofficeCurlArgs(
  url: string,
  key: string | undefined,
  form: string[] = ['image=@"image-file.png"'],
): string[] {
  return [
    '--location',
    '--request',
    'POST',
    url,
    ...(key === undefined ? [] : ['--header', `x-api-key: ${key}`]),
    ...form.flatMap((part) => ['--form', part]),
  ];
}

function curl(args: string[], cwd: string): Promise<CurlResult> {
  const output = ['--silent', '--show-error', '--write-out', '\n%{http_code} %{content_type}'];
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      ['--max-time', '60', ...args, ...output],
      { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd }, maxBuffer: 4 * MIB },
      (error, stdout, stderr) => {
        // A refusal sent while curl still uploads may end its upload with an error: the answer
        // it printed is what counts.
        const cut = stdout.lastIndexOf('\n');
        const [status, contentType = ''] = stdout.slice(cut + 1).split(' ');
        if (!Number(status)) return reject(new Error(`curl failed: ${error?.message} ${stderr}`));
        resolve({ status: Number(status), contentType, body: stdout.slice(0, cut) });
      },
    );
  });
}

describe('The back-office uploader: POST /upload/image and POST /image (its own curl command)', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let ds: DataSource;
  let base: string;
  let work: string;
  let mediaDir: string;
  let spoolDir: string;
  const keys: Record<string, string> = {};
  const c: Record<string, Credential> = {};

  async function createKey(body: object): Promise<string> {
    const res = await call(app, 'POST', '/api/v1/api-keys', c.admin, body);
    expect(res.statusCode).toBe(201);
    return res.json().key;
  }

  /** `key: null` sends none. */
  function send(form?: string[], key: string | null = keys.staff, path = '/upload/image') {
    return curl(backofficeCurlArgs(`${base}${path}`, key ?? undefined, form), work);
  }

  async function rowIds(): Promise<string[]> {
    return (await ds.query('SELECT id FROM images ORDER BY id')).map((r: { id: string }) => r.id);
  }

  function storedFiles(): string[] {
    return filesBelow(mediaDir)
      .map((f) => relative(mediaDir, f).split(sep).join('/'))
      .filter((key) => !key.startsWith('.tmp/'))
      .sort();
  }

  async function snapshot() {
    return { rows: await rowIds(), files: storedFiles() };
  }

  /** A refused upload left no row, no stored file and no spooled file. */
  async function expectNothingLeft(before: { rows: string[]; files: string[] }) {
    expect(await rowIds()).toEqual(before.rows);
    expect(storedFiles()).toEqual(before.files);
    const deadline = Date.now() + 5000;
    while (filesBelow(spoolDir).length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(filesBelow(spoolDir)).toEqual([]);
  }

  /** A 200 with exactly `{"data": {"key"}}`; the key serves the file and finds the image. */
  async function expectStored(result: CurlResult, extension: string, file: string) {
    expect(result.status).toBe(200);
    expect(result.contentType).toMatch(/^application\/json/);
    const body = JSON.parse(result.body) as { data: { key: string } };
    expect(Object.keys(body)).toEqual(['data']);
    expect(Object.keys(body.data)).toEqual(['key']);
    expect(typeof body.data.key).toBe('string');
    const { key } = body.data;
    expect(key).toMatch(new RegExp(`^uploads/${UUID}/original\\.${extension}$`));

    const [row] = await ds.query('SELECT * FROM images WHERE storage_key = $1', [key]);
    expect(row).toMatchObject({ product_id: null, purpose: 'product', expires_at: null });
    expect(row.original_filename).toBe(file);
    expect(storedFiles()).toContain(key);

    // The file is served under its key…
    const served = await app.inject({ method: 'GET', url: `/media/${key}` });
    expect(served.statusCode).toBe(200);
    expect(served.rawPayload.equals(readFileSync(join(mediaDir, key)))).toBe(true);
    // …and the main API finds the image by it.
    const found = await call(app, 'GET', `/api/v1/images?key=${encodeURIComponent(key)}`, c.admin);
    expect(found.statusCode).toBe(200);
    expect(found.json().items).toHaveLength(1);
    expect(found.json().items[0]).toMatchObject({ key, purpose: 'product', expires_at: null });
    return key;
  }

  function expectProblem(result: CurlResult, status: number, code: string) {
    expect(result.status).toBe(status);
    expect(result.contentType).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(result.body).code).toBe(code);
  }

  beforeAll(async () => {
    t = await startTestApp({
      // The service's general limit is above the uploader's own 15 MiB.
      MAX_UPLOAD_BYTES: String(40 * MIB),
      API_KEY_QUERY_PARAM: 'true',
    });
    app = t.app;
    ds = app.get(DataSource);
    mediaDir = join(t.db.env.DATA_DIR, 'media');
    spoolDir = join(t.db.env.DATA_DIR, 'tmp', 'uploads');
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.getHttpServer().address() as { port: number };
    base = `http://127.0.0.1:${port}`;

    work = mkdtempSync(join(tmpdir(), 'backoffice-'));
    writeFileSync(join(work, 'image-file.png'), await noisyPng(24, 16));
    writeFileSync(join(work, 'photo.jpeg'), await solidJpeg(40, 30));
    writeFileSync(join(work, 'anim.gif'), await gif());
    writeFileSync(join(work, 'anim.png'), await animatedPng());
    writeFileSync(join(work, 'pic.webp'), await webp());
    writeFileSync(join(work, 'pic.avif'), await avif());
    writeFileSync(join(work, 'pic.bmp'), bmp());
    writeFileSync(join(work, 'logo.svg'), safeSvg());
    writeFileSync(join(work, 'page.png'), htmlBytes());
    // Over 15 MiB (the bytes past the limit are never read, so what they are does not matter).
    writeFileSync(join(work, 'huge.png'), noiseBytes(15 * MIB + 1, 15));

    c.admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    c.user = await addUser(app, c.admin, 'bea', Role.User);
    keys.staff = await createKey({
      name: 'back office',
      role: Role.Staff,
      scopes: ['images:write'],
    });
    keys.userRole = await createKey({ name: 'viewer', role: Role.User, scopes: ['images:read'] });
    keys.readOnly = await createKey({
      name: 'staff reader',
      role: Role.Staff,
      scopes: ['images:read'],
    });
  });

  afterAll(async () => {
    await t?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('answers the printed command with 200 {"data": {"key"}}, a key that serves the file', async () => {
    await expectStored(await send(), 'png', 'image-file.png');
  });

  it('answers POST /image the same way', async () => {
    await expectStored(await send(undefined, keys.staff, '/image'), 'png', 'image-file.png');
  });

  it.each([
    ['photo.jpeg', 'jpg'],
    ['anim.gif', 'gif'],
    // An animated PNG: a .png file, as the main API takes it.
    ['anim.png', 'png'],
    ['pic.webp', 'webp'],
  ])('accepts %s', async (file, extension) => {
    await expectStored(await send([`image=@"${file}"`]), extension, file);
  });

  it.each(['pic.avif', 'pic.bmp', 'logo.svg', 'page.png'])(
    'refuses %s (400 unsupported_image_type), storing nothing',
    async (file) => {
      const before = await snapshot();
      const result = await send([`image=@"${file}";type=image/png`]);
      expectProblem(result, 400, 'unsupported_image_type');
      expect(JSON.parse(result.body).detail).toBe(
        'The back-office uploader accepts JPEG, PNG, GIF and WebP images only.',
      );
      await expectNothingLeft(before);
    },
  );

  it('refuses a file over 15 MiB with 413, though the service allows more, storing nothing', async () => {
    const before = await snapshot();
    for (const path of ['/upload/image', '/image']) {
      expectProblem(await send(['image=@"huge.png"'], keys.staff, path), 413, 'file_too_large');
    }
    await expectNothingLeft(before);
  });

  it.each(['/upload/image', '/image'])(
    'refuses at once, unread, a %s body announcing more than a 15 MiB file and its form can be',
    async (path) => {
      const before = await snapshot();
      // Within what the service's general limit (40 MiB) would let through, past the uploader's.
      const answer = await sendWithLargeBody({
        port: Number(new URL(base).port),
        method: 'POST',
        path,
        headers: {
          'x-api-key': keys.staff,
          'content-type': 'multipart/form-data; boundary=XX',
        },
        contentLength: 20 * MIB,
        prefix:
          '--XX\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n' +
          'Content-Type: image/png\r\n\r\n',
        rest: 'hold',
        timeoutMs: 5000,
      });
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body)).toMatchObject({
        code: 'file_too_large',
        detail: expect.stringContaining(`at most ${15 * MIB} bytes`),
      });
      await expectNothingLeft(before);
    },
  );

  it('answers a missing image and an unknown field with 400', async () => {
    const before = await snapshot();
    expectProblem(await send(['title=x']), 400, 'validation_failed');
    expectProblem(await send(['image=image-file.png']), 400, 'image_required');
    expectProblem(await send(['image=']), 400, 'image_required');
    await expectNothingLeft(before);
  });

  it('answers 401 without a key or with a bad one', async () => {
    const before = await snapshot();
    expectProblem(await send(undefined, null), 401, 'authentication_required');
    expectProblem(await send(undefined, 'pis_AAAAAAAA_' + 'a'.repeat(43)), 401, 'invalid_api_key');
    await expectNothingLeft(before);
  });

  it('takes its x-api-key beside an empty Authorization header, which carries no credential', async () => {
    // The uploader's only credential is x-api-key; a client (or a proxy) that also sends
    // `Authorization:` with nothing in it sends no second credential. curl sends an empty header
    // for `--header 'Authorization;'`.
    const url = `${base}/upload/image`;
    for (const empty of ['Authorization;', 'Authorization:   ']) {
      const args = ['--header', empty, ...backofficeCurlArgs(url, keys.staff)];
      await expectStored(await curl(args, work), 'png', 'image-file.png');
    }
    // Alone it is no credential (401 as without one), and a scheme without a token is malformed.
    const before = await snapshot();
    expectProblem(
      await curl(['--header', 'Authorization;', ...backofficeCurlArgs(url, undefined)], work),
      401,
      'authentication_required',
    );
    const bare = ['--header', 'Authorization: Bearer', ...backofficeCurlArgs(url, keys.staff)];
    expectProblem(await curl(bare, work), 401, 'authentication_required');
    await expectNothingLeft(before);
  });

  it('answers 403 to a key below staff, and to one without images:write', async () => {
    const before = await snapshot();
    expectProblem(await send(undefined, keys.userRole), 403, 'insufficient_role');
    expectProblem(await send(undefined, keys.readOnly), 403, 'insufficient_scope');
    await expectNothingLeft(before);
  });

  it('Idempotency-Key: a retry, also one sent at once beside the first, makes no second image', async () => {
    // As on the main API's stand-alone upload, which this route is (README, "Idempotent retries").
    const png = await noisyPng(8, 8);
    const before = await rowIds();
    const send = (data: Buffer) => {
      const body = multipart({}, [{ data, filename: 'image-file.png' }]);
      return call(app, 'POST', '/upload/image', { apiKey: keys.staff }, body.payload, {
        headers: { ...body.headers, 'idempotency-key': 'backoffice-retry-1' },
      });
    };
    const [first, beside] = await Promise.all([send(png), send(png)]);
    const answered = theWorkOnce([first, beside], 200);
    const retry = await send(png);
    expect(retry.statusCode).toBe(200);
    expect(retry.body).toBe(answered.body);
    expect((await rowIds()).length).toBe(before.length + 1);
    const reused = await send(await noisyPng(9, 9));
    expect(reused.statusCode).toBe(422);
    expect(reused.json()).toMatchObject({ code: 'idempotency_key_reused' });
    expect((await rowIds()).length).toBe(before.length + 1);
  });

  it('Idempotency-Key: its two paths are one upload, a retry through the other replayed', async () => {
    // The document's example path and its title's are one operation: a retry sent to the other
    // (a client configured anew between the two) was 422 idempotency_key_reused.
    const png = await noisyPng(10, 10);
    const upload = (path: string, key: string) => {
      const body = multipart({}, [{ data: png, filename: 'image-file.png' }]);
      return call(app, 'POST', path, { apiKey: keys.staff }, body.payload, {
        headers: { ...body.headers, 'idempotency-key': key },
      });
    };
    const before = await rowIds();
    for (const [path, other] of [
      ['/upload/image', '/image'],
      ['/image', '/upload/image'],
    ]) {
      const key = `backoffice-paths-${path}`;
      const first = await upload(path, key);
      expect(first.statusCode).toBe(200);
      const retry = await upload(other, key);
      expect({ status: retry.statusCode, body: retry.body }).toEqual({
        status: 200,
        body: first.body,
      });
    }
    expect((await rowIds()).length).toBe(before.length + 2);
    // Inventorum's upload is another operation (another answer's shape), its key another request.
    const inventorum = multipart({ type: 'product' }, [{ data: png, filename: 'image-file.png' }]);
    const elsewhere = await call(
      app,
      'POST',
      '/api/images/',
      { apiKey: keys.staff },
      inventorum.payload,
      {
        headers: { ...inventorum.headers, 'idempotency-key': 'backoffice-paths-/image' },
      },
    );
    expect(elsewhere.json()).toMatchObject({ status: 422, code: 'idempotency_key_reused' });
    expect((await rowIds()).length).toBe(before.length + 2);
  });

  it('takes the key in the query where API_KEY_QUERY_PARAM=true allows it', async () => {
    const url = `${base}/upload/image?x-api-key=${encodeURIComponent(keys.staff)}`;
    await expectStored(
      await curl(backofficeCurlArgs(url, undefined), work),
      'png',
      'image-file.png',
    );
  });
});

/** The admin's JWT and a staff key with images:write, on a test app. */
async function staffKey(app: NestFastifyApplication): Promise<string> {
  const admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  const res = await call(app, 'POST', '/api/v1/api-keys', admin, {
    name: 'back office',
    role: Role.Staff,
    scopes: ['images:write'],
  });
  expect(res.statusCode).toBe(201);
  return res.json().key;
}

// One app at a time: passport's JWT strategy is one per process, the last app's.
describe('The back-office uploader where API_KEY_QUERY_PARAM is off (the default)', () => {
  let t: TestApp;
  let work: string;

  beforeAll(async () => {
    t = await startTestApp({ COMPAT_APIS: 'backoffice-uploader' });
    work = mkdtempSync(join(tmpdir(), 'backoffice-'));
    writeFileSync(join(work, 'image-file.png'), await noisyPng(8, 8));
  });
  afterAll(async () => {
    await t?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ignores the query key (401); the same key in the header works', async () => {
    const key = await staffKey(t.app);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.getHttpServer().address() as { port: number };
    const url = `http://127.0.0.1:${port}/upload/image?x-api-key=${encodeURIComponent(key)}`;
    const result = await curl(backofficeCurlArgs(url, undefined), work);
    expect(result.status).toBe(401);
    expect(JSON.parse(result.body).code).toBe('authentication_required');
    const header = await curl(backofficeCurlArgs(`http://127.0.0.1:${port}/image`, key), work);
    expect(header.status).toBe(200);
  });
});

describe('The back-office uploader with COMPAT_APIS not naming it', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ COMPAT_APIS: 'token-api,closient,inventorum' });
  });
  afterAll(() => t?.close());

  it('serves neither path (404)', async () => {
    const key = await staffKey(t.app);
    const form = multipart({}, [{ data: await solidJpeg(8, 8) }]);
    for (const url of ['/image', '/upload/image']) {
      const res = await call(t.app, 'POST', url, { apiKey: key }, form.payload, {
        headers: form.headers,
      });
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('route_not_found');
    }
  });
});
