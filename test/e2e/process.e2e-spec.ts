import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  childProcesses,
  freePort,
  inheritedEnv,
  isRunning,
  MAIN,
  postJsonOverHttp,
  SERVICE_TEST_TIMEOUT_MS,
  startService,
  type RunningService,
  waitForStatus,
} from '../support/process';
import { eventually } from '../support/eventually';
import { login } from '../support/http';
import { RawClient } from '../support/slow-client';
import { multipart } from '../support/multipart';
import { filesBelow } from '../support/accounts';
import { createApp } from '../../src/app.factory';
import { THREADS_BESIDE_IMAGES } from '../../src/common/runtime/thread-pool';

// These tests start the service and wait for it to be ready.
jest.setTimeout(SERVICE_TEST_TIMEOUT_MS);

const execFileAsync = promisify(execFile);
const CLI = MAIN.replace(/main\.js$/, 'cli.js');
/** Makes the built service meet a fault no code catches on SIGUSR2 (see the file). */
const CRASH_PRELOAD = join(__dirname, '..', 'support', 'crash.preload.cjs');

/** The compiled service as an operator runs it: `node dist/src/main.js`. */
describe('The service process', () => {
  let cwd: string;

  // dist/ is built once by the global set-up, before the workers start.
  beforeAll(() => (cwd = mkdtempSync(join(tmpdir(), 'pis-proc-'))));
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it('refuses to start on bad configuration, naming each bad variable', async () => {
    const service = startService(
      { PORT: 'eighty', NODE_ENV: 'staging', DATABASE_URL: 'mysql://u:secretpw@h/db' },
      cwd,
    );
    const { code } = await service.exit;
    expect(code).toBe(1);
    const out = service.output();
    expect(out).toContain('Invalid configuration');
    expect(out).toMatch(/PORT: must be an integer/);
    expect(out).toMatch(/NODE_ENV: must be one of/);
    expect(out).toMatch(/DATABASE_URL: must be a PostgreSQL connection URL/);
    expect(out).not.toContain('secretpw');
    expect(out).not.toMatch(/\bat .*\.js:\d+/); // one clear message, no stack trace
  });

  describe('with a valid configuration', () => {
    let db: TestDatabase;
    beforeAll(async () => (db = await createTestDatabase()));
    afterAll(() => db.drop());

    /** The JSON lines of a service's output that `select` keeps. */
    const logLines = (service: RunningService, select: (line: string) => boolean) =>
      service
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{') && select(l))
        .map((l) => JSON.parse(l) as Record<string, unknown>);

    /**
     * One start serves the checks of a running service's output (the docs URL, the JSON request
     * lines) and of its SIGTERM: each boot of the built service is seconds of CPU on CI's 2 cores.
     * API keys in the query are allowed so that the redaction of that query is checked too. The
     * same start serves the readiness check's failure: its local storage is a folder of the test's.
     */
    describe('one service, started with LOG_LEVEL info', () => {
      let port: number;
      let service: RunningService;
      let media: string;
      beforeAll(async () => {
        port = await freePort();
        media = mkdtempSync(join(tmpdir(), 'pis-ready-media-'));
        service = startService(
          {
            ...db.env,
            PORT: String(port),
            HOST: '127.0.0.1',
            LOG_LEVEL: 'info',
            API_KEY_QUERY_PARAM: 'true',
            STORAGE_LOCAL_DIR: media,
          },
          cwd,
        );
        await waitForStatus(`http://127.0.0.1:${port}/health/ready`, 200);
      });
      afterAll(async () => {
        if (isRunning(service.child.pid!)) service.child.kill('SIGKILL');
        await service.exit;
        rmSync(media, { recursive: true, force: true });
      });

      it('starts, reports ready, and prints the docs URL', async () => {
        const docs = await fetch(`http://127.0.0.1:${port}/docs-json`);
        expect(docs.status).toBe(200);
        expect(((await docs.json()) as { openapi: string }).openapi).toMatch(/^3\./);
        expect(service.output()).toContain(`http://127.0.0.1:${port}/docs`);
      });

      it('warns once of a failing readiness check, naming it, and reports not ready', async () => {
        // The storage's folder replaced by a file: the local storage's check fails.
        rmSync(media, { recursive: true, force: true });
        writeFileSync(media, 'not a folder');
        const res = await fetch(`http://127.0.0.1:${port}/health/ready`);
        expect(res.status).toBe(503);
        expect(await res.json()).toMatchObject({ code: 'not_ready' });
        // A request after it, logged once answered: every line before it has arrived.
        await fetch(`http://127.0.0.1:${port}/api/v1/auth/me`, {
          headers: { 'x-request-id': 'after-readiness' },
        });
        await eventually(() => service.output().includes('after-readiness'), 'a later line');
        // The service's own warning, with the reason; not also Terminus's error line for the same.
        const lines = logLines(service, () => true);
        expect(lines.filter((l) => l.msg === 'Storage readiness check failed')).toEqual([
          expect.objectContaining({ level: 40 }),
        ]);
        expect(lines.filter((l) => Number(l.level) >= 50)).toEqual([]);
      });

      it('logs JSON lines with the request id, never a credential, and exits 0 on SIGTERM', async () => {
        try {
          const res = await fetch(
            `http://127.0.0.1:${port}/api/v1/auth/me?x-api-key=query-secret-1&api_key=query-secret-2&limit=5`,
            {
              headers: {
                authorization: 'Bearer header-secret-3',
                'x-api-key': 'header-secret-4',
                cookie: 'session=cookie-secret-5',
                'x-request-id': 'trace-redaction-check',
              },
            },
          );
          expect(res.status).toBe(401);
          // Sent as written (fetch drops what follows a `#`): the router reads a query after `#`.
          for (const [path, expected] of [
            ['/api/v1/auth/me#x-api-key=query-secret-6', 401],
            ['/api/v1/auth/me;x-api-key=query-secret-7', 404],
          ] as const) {
            const status = await new Promise<number | undefined>((resolve, reject) => {
              const req = request({ host: '127.0.0.1', port, path }, (answer) => {
                answer.resume();
                resolve(answer.statusCode);
              });
              req.on('error', reject).end();
            });
            expect({ path, status }).toEqual({ path, status: expected });
          }
          // Refused by Node's parser (a header line without a colon): no route or hook sees it.
          const raw = await RawClient.connect(port);
          await raw.write(
            'GET /api/v1/auth/me?x-api-key=parser-secret-8 HTTP/1.1\r\nHost: x\r\nNo Colon\r\n\r\n',
          );
          await raw.closed;
          expect(raw.answer()?.status).toBe(400);
        } finally {
          service.child.kill('SIGTERM');
        }
        const exit = await service.exit;
        const out = service.output();
        for (const secret of [
          'query-secret-1',
          'query-secret-2',
          'header-secret-3',
          'header-secret-4',
          'cookie-secret-5',
          'query-secret-6',
          'query-secret-7',
          'parser-secret-8',
        ]) {
          expect(out).not.toContain(secret);
        }
        const refused = out
          .split('\n')
          .filter((l) => l.includes('Request refused by the HTTP parser'))
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        expect(refused).toEqual([
          expect.objectContaining({
            level: 40,
            parser_error: 'HPE_INVALID_HEADER_TOKEN',
            status: 400,
            request_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
          }),
        ]);
        const line = out.split('\n').find((l) => l.includes('trace-redaction-check'));
        expect(line).toBeDefined();
        const entry = JSON.parse(line!);
        expect(entry.req).toMatchObject({
          id: 'trace-redaction-check',
          url: '/api/v1/auth/me?x-api-key=[REDACTED]&api_key=[REDACTED]&limit=5',
          headers: { authorization: '[REDACTED]', 'x-api-key': '[REDACTED]', cookie: '[REDACTED]' },
        });
        // The same start's end: SIGTERM, exit 0; no error line all along (a failed readiness check
        // above is the service's warning only).
        expect(exit).toEqual({ code: 0, signal: null });
        expect(out).toContain('shutting down gracefully');
        expect(logLines(service, () => true).filter((l) => Number(l.level) >= 50)).toEqual([]);
      });
    });

    /**
     * The built service on a database of its own, which it gives its first administrator (the
     * other tests here make theirs), with `env` besides.
     */
    async function serviceWithAdmin(name: string, env: Record<string, string>) {
      const port = await freePort();
      const admin = {
        email: `${name}-admin@test.example`,
        password: `${name}-admin-password-for-tests`,
      };
      const own = await createTestDatabase();
      const service = startService(
        {
          ...own.env,
          PORT: String(port),
          HOST: '127.0.0.1',
          LOG_LEVEL: 'info',
          ADMIN_EMAIL: admin.email,
          ADMIN_PASSWORD: admin.password,
          ...env,
        },
        cwd,
      );
      return { port, admin, own, service };
    }

    /**
     * Half of a 1 MB upload to a new product, and then nothing, once the service is ready and
     * has its first administrator; resolves when the upload's temporary file is there.
     */
    async function halfAnUpload(
      port: number,
      admin: { email: string; password: string },
      service: RunningService,
      spool: string,
    ): Promise<RawClient> {
      const base = `http://127.0.0.1:${port}`;
      await waitForStatus(`${base}/health/ready`, 200);
      await eventually(
        () => service.output().includes('Created the first administrator'),
        'the first administrator',
      );
      const json = (path: string, body: unknown, token?: string) =>
        postJsonOverHttp(base, path, body, token);
      const token = (await json('/api/v1/auth/login', admin)).access_token;
      const product = (await json('/api/v1/products', { name: 'Cut short' }, token)).id;
      const body = multipart({}, [
        { data: randomBytes(1_000_000), contentType: 'image/jpeg', filename: 'a.jpg' },
      ]);
      const raw = await RawClient.connect(port);
      await raw.write(
        `POST /api/v1/products/${product}/images HTTP/1.1\r\nHost: x\r\n` +
          `Authorization: Bearer ${token}\r\n` +
          `Content-Type: ${body.headers['content-type']}\r\n` +
          `Content-Length: ${body.payload.length}\r\n\r\n`,
      );
      await raw.write(body.payload.subarray(0, 500_000));
      await eventually(() => filesBelow(spool).length === 1, 'the upload to be spooled');
      return raw;
    }

    /**
     * A service with `env` sent `signal` while an upload waits for its second half: it exits 1,
     * and the upload's temporary file is gone.
     */
    async function exitMidUpload(name: string, env: Record<string, string>, signal: string) {
      const { port, admin, own, service } = await serviceWithAdmin(name, env);
      const spool = join(own.env.DATA_DIR, 'tmp', 'uploads');
      let raw: RawClient | undefined;
      try {
        raw = await halfAnUpload(port, admin, service, spool);
        service.child.kill(signal as NodeJS.Signals);
        expect(await service.exit).toEqual({ code: 1, signal: null });
      } finally {
        raw?.destroy();
        if (isRunning(service.child.pid!)) service.child.kill('SIGKILL');
        await service.exit;
      }
      expect(filesBelow(spool)).toEqual([]);
      return { own, service };
    }

    it('removes the temporary file of an upload still arriving when the shutdown time runs out', async () => {
      const { own, service } = await exitMidUpload(
        'cut',
        { SHUTDOWN_TIMEOUT_MS: '1000' },
        'SIGTERM',
      );
      const cut = logLines(service, (l) => l.includes('Shutdown did not finish'));
      expect(cut).toEqual([
        expect.objectContaining({
          level: 50,
          msg: expect.stringMatching(/^Shutdown did not finish within 1000 ms/),
          spool_files_removed: 1,
        }),
      ]);
      await own.drop();
    });

    it.each([
      ['an exception thrown outside any request', 'exception', 'uncaughtException'],
      ['a rejected promise no one handles', 'rejection', 'unhandledRejection'],
    ])(
      'meets %s with one fatal JSON line, the temporary files of uploads in flight removed, and exit 1',
      async (_, crashWith, origin) => {
        const { own, service } = await exitMidUpload(
          `crash-${crashWith}`,
          { NODE_OPTIONS: `--require ${CRASH_PRELOAD}`, CRASH_WITH: crashWith },
          'SIGUSR2',
        );
        expect(logLines(service, (l) => /"level":60/.test(l))).toEqual([
          expect.objectContaining({
            msg: 'Uncaught exception; exiting',
            context: 'Process',
            origin,
            spool_files_removed: 1,
            err: expect.objectContaining({ message: 'crash-check: a fault no code caught' }),
          }),
        ]);
        expect(JSON.stringify(logLines(service, () => true))).not.toContain('crash-check-secret');
        await own.drop();
      },
    );

    /**
     * One start (a database and first administrator of its own) serves the thread pool's check
     * and the SVG renders', which end by killing it: each boot of the built service is seconds of
     * CPU on CI's 2 cores.
     */
    describe('one service processing six images at once, with SVG renders of up to 5 minutes', () => {
      let started: Awaited<ReturnType<typeof serviceWithAdmin>>;
      beforeAll(async () => {
        started = await serviceWithAdmin('pool-svg', {
          IMAGE_PROCESSING_CONCURRENCY: '6',
          // Long enough that only the service's death can end the slow render below.
          SVG_RENDER_TIMEOUT_MS: '300000',
        });
        await waitForStatus(`http://127.0.0.1:${started.port}/health/ready`, 200);
        // The first administrator is made once the service listens, which is after it is ready;
        // the password hashed (argon2, on the pool): the pool has started.
        await eventually(
          () => started.service.output().includes('Created the first administrator'),
          'the first administrator',
        );
      });
      afterAll(async () => {
        started?.service.child.kill('SIGKILL');
        await started?.service.exit;
        await started?.own.drop();
      });

      it("sizes libuv's thread pool for the images processed at once, with threads to spare for files", () => {
        // sharp's work runs on libuv's pool, beside every file read: with as many images processed
        // at once as the pool has threads (4 by default), /media reads wait for a decode to end.
        const { service } = started;
        const threads = readdirSync(`/proc/${service.child.pid}/task`).filter(
          (task) =>
            readFileSync(`/proc/${service.child.pid}/task/${task}/comm`, 'utf8').trim() ===
            'libuv-worker',
        );
        expect(threads).toHaveLength(6 + THREADS_BESIDE_IMAGES);
      });

      it('renders SVGs in the process the build ships for it, which ends when the service dies', async () => {
        /** What this test reads of the answers: a token, a product, an image. */
        interface Answer {
          access_token: string;
          id: string;
          format: string;
          renditions: Record<string, { url: string }>;
          responsive: Record<string, { src: string }>;
        }
        const { port, admin, service } = started;
        const renders = () => childProcesses(service.child.pid!, 'svg-render.child.cjs');
        const base = `http://127.0.0.1:${port}`;
        const post = async (path: string, body: unknown, token?: string) => {
          const form = body instanceof FormData;
          const res = await fetch(`${base}${path}`, {
            method: 'POST',
            headers: {
              ...(form ? {} : { 'content-type': 'application/json' }),
              ...(token ? { authorization: `Bearer ${token}` } : {}),
            },
            body: form ? body : JSON.stringify(body),
          });
          return { status: res.status, body: (await res.json()) as Answer };
        };
        const token = (await post('/api/v1/auth/login', admin)).body.access_token;
        const product = (await post('/api/v1/products', { name: 'Logo' }, token)).body;
        const svg =
          '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200">' +
          '<rect width="300" height="200" fill="#ff0000"/></svg>';
        const upload = new FormData();
        upload.append('image', new Blob([svg], { type: 'image/svg+xml' }), 'logo.svg');
        const image = await post(`/api/v1/products/${product.id}/images`, upload, token);
        expect(image).toMatchObject({ status: 201, body: { format: 'svg', width: 300 } });
        // A rendition made at upload, and a result made on request: both rendered from the SVG.
        for (const url of [image.body.renditions.thumb.url, image.body.responsive.card.src]) {
          const res = await fetch(new URL(url, base));
          expect({ url, status: res.status }).toEqual({ url, status: 200 });
          expect(res.headers.get('content-type')).toMatch(/^image\/(webp|png|jpeg|avif)$/);
        }

        // A render of minutes (40,000 characters on a line), and the service killed under it.
        const slow = new FormData();
        const text = `<text y="20">${'x'.repeat(40_000)}</text>`;
        const slowSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200">${text}</svg>`;
        slow.append('image', new Blob([slowSvg], { type: 'image/svg+xml' }), 'slow.svg');
        void post(`/api/v1/products/${product.id}/images`, slow, token).catch(() => undefined);
        await eventually(() => renders().length === 1, 'the slow SVG to be rendering');
        const [render] = renders();
        service.child.kill('SIGKILL');
        await service.exit;
        // Orphaned, the render notices within half a second that its parent is gone, and ends.
        await eventually(() => !isRunning(render), 'the orphaned render to end', 10_000);
      });
    });
  });

  describe('the first administrator, with a generated password', () => {
    let db: TestDatabase;
    beforeAll(async () => (db = await createTestDatabase()));
    afterAll(() => db.drop());

    /** The printed password, once the service has printed it (it does so after listening). */
    async function printedPassword(service: RunningService): Promise<string> {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const password = /password: (\S+)/.exec(service.output())?.[1];
        if (password) return password;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no password printed:\n${service.output()}`);
    }

    it('is not created by a start that fails to listen; the next start creates and prints it', async () => {
      const env = { ...db.env, HOST: '127.0.0.1', LOG_LEVEL: 'info' };
      const taken = createServer().listen(0, '127.0.0.1');
      await once(taken, 'listening');
      const { port: busy } = taken.address() as { port: number };
      try {
        const failed = startService({ ...env, PORT: String(busy) }, cwd);
        expect(await failed.exit).toEqual({ code: 1, signal: null });
        expect(failed.output()).toContain('EADDRINUSE');
        expect(failed.output()).not.toContain('First start');
        expect(failed.output()).not.toMatch(/password: /);
      } finally {
        taken.close();
      }

      const port = await freePort();
      const service = startService({ ...env, PORT: String(port) }, cwd);
      try {
        await waitForStatus(`http://127.0.0.1:${port}/health/ready`, 200);
        const password = await printedPassword(service);
        const out = service.output();
        expect(out.indexOf('First start')).toBeGreaterThan(out.indexOf('Listening on'));
        const login = await fetch(`http://127.0.0.1:${port}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'admin', password }),
        });
        expect(login.status).toBe(200);
        const { access_token } = (await login.json()) as { access_token: string };
        const users = await fetch(`http://127.0.0.1:${port}/api/v1/users`, {
          headers: { authorization: `Bearer ${access_token}` },
        });
        expect(((await users.json()) as { total: number }).total).toBe(1);
      } finally {
        service.child.kill('SIGTERM');
      }
      expect(await service.exit).toEqual({ code: 0, signal: null });
    });
  });

  /**
   * One database and one in-process application for the CLI's tests: the first runs before the
   * first start (the application, made by the first test to need it, creates the administrator),
   * the others make users and keys of their own names.
   */
  describe('the CLI', () => {
    let db: TestDatabase;
    let started: Awaited<ReturnType<typeof createApp>> | undefined;
    beforeAll(async () => (db = await createTestDatabase()));
    afterAll(async () => {
      await started?.close();
      await db.drop();
    });

    const cli = (...args: string[]) =>
      execFileAsync(process.execPath, [CLI, ...args], {
        cwd,
        env: { ...inheritedEnv(), ...db.env, LOG_LEVEL: 'silent' },
      });
    const env = { NODE_ENV: 'test', LOG_LEVEL: 'silent', ADMIN_PASSWORD: 'first admin password' };
    const app = async () => (started ??= await createApp({ env: { ...env, ...db.env } }));

    it('leaves the default organisation for the first administrator to join, before the first start', async () => {
      await cli('create-api-key', '--name=early');

      const inProcess = await app();
      const token = await login(inProcess, { username: 'admin' }, 'first admin password');
      const me = await inProcess.inject({
        url: '/api/v1/auth/me',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(me.json()).toMatchObject({ role: 'admin', organization: { slug: 'default' } });
    });

    it('creates a user who can log in, and an API key that authenticates', async () => {
      const user = await cli(
        'create-user',
        '--email=ops@cli.example',
        '--username=ops',
        '--role=staff',
        '--org=acme',
        '--org-name=Acme Inc.',
        '--password=a long cli password',
      );
      expect(JSON.parse(user.stdout)).toMatchObject({ username: 'ops', role: 'staff' });
      const key = JSON.parse(
        (
          await cli(
            'create-api-key',
            '--name=importer',
            '--org=acme',
            '--scopes=images:read,images:write',
          )
        ).stdout,
      ) as { key: string; scopes: string[] };
      expect(key.scopes).toEqual(['images:read', 'images:write']);

      const inProcess = await app();
      const token = await login(inProcess, { username: 'ops' }, 'a long cli password');
      const me = await inProcess.inject({
        url: '/api/v1/auth/me',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(me.json().organization).toMatchObject({ slug: 'acme', name: 'Acme Inc.' });
      const byKey = await inProcess.inject({
        url: '/api/v1/auth/me',
        headers: { 'x-api-key': key.key },
      });
      expect(byKey.json()).toMatchObject({ type: 'api_key', organization: { slug: 'acme' } });
    });

    it('generates and prints a password when none is given', async () => {
      const out = JSON.parse(
        (await cli('create-user', '--email=gen@cli.example', '--username=gen', '--role=user'))
          .stdout,
      );
      expect(out.password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    });

    it('refuses bad input with a clear message and exit code 2', async () => {
      // Each refusal is src/cli/cli-commands.spec.ts's, in process; here, the built CLI's exit.
      await expect(cli('frobnicate', '--org=junk')).rejects.toMatchObject({
        code: 2,
        stdout: '',
        stderr: expect.stringMatching(/^Unknown command: frobnicate\n\nUsage: npm run -s cli/),
      });
    });
  });
});
