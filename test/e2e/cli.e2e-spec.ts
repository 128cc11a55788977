import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { LoggerService } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { AccountsService } from '../../src/auth/accounts.service';
import { parseCommand } from '../../src/cli/cli-commands';
import { AppError } from '../../src/common/errors/app.error';
import { loadAppConfig } from '../../src/config/app-config.module';
import { deleteOrganization } from '../../src/organizations/organizations.cli';
import { STORAGE_PROVIDER, type StorageProvider } from '../../src/storage/storage-provider';
import { eventually } from '../support/eventually';
import { newImage, newProduct, organizationBySlug } from '../support/factories';
import { call, login } from '../support/http';
import { freePort, inheritedEnv, MAIN, ROOT } from '../support/process';
import { printedDuring } from '../support/stdout';
import { closedPort } from '../support/storage-backends';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { TEST_ADMIN } from '../support/test-app';

const execFileAsync = promisify(execFile);
const CLI = MAIN.replace(/main\.js$/, 'cli.js');
const SILENT = { NODE_ENV: 'test', LOG_LEVEL: 'silent' };
/** A command's logger, run in this process: what it logs is not what is tested. */
const QUIET: LoggerService = { log() {}, warn() {}, error() {} };

/**
 * `npm run -s cli -- reset-password`: the way back when the first administrator's password (or
 * anyone's) is lost. Run against the compiled CLI, and once through npm as documented.
 */
describe('npm run -s cli -- reset-password', () => {
  let db: TestDatabase;
  let apiKey: string;
  /** The first administrator's session from before any reset, and when it was had. */
  let session: string;
  let sessionAt: number;
  const env = (): Record<string, string> => ({ ...inheritedEnv(), ...db.env, LOG_LEVEL: 'silent' });
  const cliWith = (overrides: Record<string, string>, ...args: string[]) =>
    execFileAsync(process.execPath, [CLI, ...args], { env: { ...env(), ...overrides } });
  const cliOn = (dataDir: string, ...args: string[]) => cliWith({ DATA_DIR: dataDir }, ...args);
  const cli = (...args: string[]) => cliOn(db.env.DATA_DIR, ...args);

  /** The application on the same database, closed again (PGlite has one process at a time). */
  async function withApp<T>(work: (app: NestFastifyApplication) => Promise<T>): Promise<T> {
    const app = await createApp({ env: { ...SILENT, ...db.env } });
    try {
      return await work(app);
    } finally {
      await app.close();
    }
  }

  const canLogIn = (app: NestFastifyApplication, username: string, password: string) =>
    login(app, { username }, password).then(
      () => true,
      () => false,
    );

  beforeAll(async () => {
    db = await createTestDatabase();
    // The first administrator (ADMIN_PASSWORD: created at bootstrap), and a user elsewhere.
    const app = await createApp({
      env: {
        ...SILENT,
        ...db.env,
        ADMIN_EMAIL: TEST_ADMIN.email,
        ADMIN_PASSWORD: TEST_ADMIN.password,
      },
    });
    try {
      session = await login(app, { username: 'admin' }, TEST_ADMIN.password);
      sessionAt = Date.now();
      expect((await call(app, 'GET', '/api/v1/auth/me', { bearer: session })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
    await cli(
      'create-user',
      '--email=ops@acme.example',
      '--username=ops',
      '--role=staff',
      '--org=acme',
      '--org-name=acme',
      '--password=ops original password',
    );
    apiKey = (
      JSON.parse((await cli('create-api-key', '--name=before-reset')).stdout) as {
        key: string;
      }
    ).key;
  }, 180_000);
  afterAll(() => db.drop());

  it('generates a new password, prints it once, and the old one and its sessions stop working', async () => {
    // A token's iat is in whole seconds: the reset comes in a later second than that token (the
    // CLI runs of the set-up took longer than that already, as a rule).
    const nextSecond = Math.floor(sessionAt / 1000) * 1000 + 1010;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, nextSecond - Date.now())));
    const { stdout } = await cli('reset-password', '--user', 'admin');
    const out = JSON.parse(stdout) as { username: string; role: string; password: string };
    expect(out).toMatchObject({ username: 'admin', email: TEST_ADMIN.email, role: 'admin' });
    expect(out.password).toMatch(/^[A-Za-z0-9_-]{24}$/);

    await withApp(async (app) => {
      // The addresses the admin logged in from are forgotten with the old password.
      const addresses = await app.get(DataSource).query(
        `SELECT a.address FROM user_login_addresses a JOIN users u ON u.id = a.user_id
            WHERE u.username = 'admin'`,
      );
      expect(addresses).toEqual([]);
      expect(await canLogIn(app, 'admin', out.password)).toBe(true);
      expect(await canLogIn(app, 'admin', TEST_ADMIN.password)).toBe(false);
      const ended = await call(app, 'GET', '/api/v1/auth/me', { bearer: session });
      expect(ended.statusCode).toBe(401);
      // Nothing else revoked: the organisation's API key still authenticates.
      const me = await call(app, 'GET', '/api/v1/auth/me', { apiKey });
      expect(me.statusCode).toBe(200);
      const [{ n }] = await app.get(DataSource).query('SELECT count(*)::int AS n FROM users');
      expect(n).toBe(2);
    });
  });

  it('finds the user by email too (any case), in the organisation given, and takes --password', async () => {
    const { stdout } = await cli(
      'reset-password',
      '--user=OPS@Acme.Example',
      '--org=acme',
      '--password=ops chosen password',
    );
    const out = JSON.parse(stdout) as Record<string, unknown>;
    expect(out).toMatchObject({ username: 'ops', role: 'staff' });
    expect(out).not.toHaveProperty('password'); // the caller chose it: not echoed
    await withApp(async (app) => {
      expect(await canLogIn(app, 'ops', 'ops chosen password')).toBe(true);
    });
  });

  it('works as documented, through npm: stdout is the JSON alone', async () => {
    // The README runs the CLI one way wherever it shows it; that way, stdout parses as JSON.
    const documented = new Set(
      readFileSync(join(ROOT, 'README.md'), 'utf8').match(/npm run [^`\n]*?cli --/g),
    );
    expect(documented.size).toBe(1);
    const [npm, ...npmArgs] = [...documented][0].split(' ');
    const { stdout } = await execFileAsync(
      npm,
      [...npmArgs, 'reset-password', '--user', TEST_ADMIN.email],
      { cwd: ROOT, env: { ...env(), HOME: process.env.HOME ?? '' } },
    );
    const { password } = JSON.parse(stdout) as { password: string };
    await withApp(async (app) => {
      expect(await canLogIn(app, 'admin', password)).toBe(true);
    });
  });

  it('exits 2 with the usage for missing or bad arguments, before opening the database', async () => {
    // Each refusal, its message and the usage after it are src/cli/cli-commands.spec.ts's, in
    // process, with what it loads (no database code, the API's rules included); here, the process
    // itself: its exit code, its streams, its data folder.
    const neverOpened = join(db.env.DATA_DIR, 'never-opened');
    // At once, not one after another: each mostly loads code, on both cores.
    const [, help] = await Promise.all([
      expect(cliOn(neverOpened, 'reset-password')).rejects.toMatchObject({
        code: 2,
        stdout: '',
        stderr: expect.stringMatching(
          /^--user is required .*\n\nUsage: [^]*reset-password {2}--user/,
        ),
      }),
      // `<command> --help` is the usage, on stdout, exit 0, the database never opened either.
      cliOn(neverOpened, 'reset-password', '--help'),
    ]);
    expect(help.stdout).toContain('reset-password  --user USERNAME|EMAIL');
    expect(help.stdout).toContain('tokens issued before');
    expect(help.stdout).toContain('Usage: npm run -s cli -- <command>');
    expect(existsSync(neverOpened)).toBe(false);
  });

  /**
   * An accounts command run as the CLI runs it once its arguments passed (parseCommand(), then its
   * work on AccountsService and the database), in this process, on the application's: what it
   * throws (an AppError is exit 1, `code: detail` on stderr, as the process case shows) and what
   * it printed (nothing, for a refusal).
   */
  async function refusedInProcess(
    app: NestFastifyApplication,
    ...args: string[]
  ): Promise<AppError> {
    let refusal: unknown;
    const printed = await printedDuring(async () => {
      const action = await parseCommand(args);
      if (action.kind !== 'accounts') throw new Error(`not an accounts command: ${args[0]}`);
      refusal = await action.work(app.get(AccountsService), app.get(DataSource)).then(
        () => new Error(`not refused: ${args.join(' ')}`),
        (error: unknown) => error,
      );
    });
    expect(printed).toBe('');
    expect(refusal).toBeInstanceOf(AppError);
    return refusal as AppError;
  }

  it('exits 1, creating nothing, for an unknown user, a taken email or no database', async () => {
    // The process, once for each way to exit 1: an AppError (its code and detail), and any other
    // error (its message, once; not the URL's password, nor a stack).
    const [, down] = await Promise.all([
      expect(cli('reset-password', '--user=ghost')).rejects.toMatchObject({
        code: 1,
        stdout: '',
        stderr:
          'user_not_found: No user "ghost" in organisation "default" (give a username or email).\n',
      }),
      cliWith(
        { DATABASE_URL: `postgres://ops:not-this-secret@127.0.0.1:${await freePort()}/nowhere` },
        'reset-password',
        '--user=admin',
      ).catch((error: { code?: number; stdout: string; stderr: string }) => error),
    ]);
    expect(down).toMatchObject({ code: 1, stdout: '' });
    expect(
      down.stderr.split('Database (DATABASE_URL) is not usable: connect ECONNREFUSED'),
    ).toHaveLength(2);
    expect(down.stderr).not.toMatch(/\{\}|not-this-secret|\n\s+at /);
    await withApp(async (app) => {
      // Users are looked up in one organisation: ops is in acme, not in default.
      expect(await refusedInProcess(app, 'reset-password', '--user=ops')).toMatchObject({
        code: 'user_not_found',
      });
      expect(
        await refusedInProcess(app, 'reset-password', '--user=ops', '--org=nowhere'),
      ).toMatchObject({ code: 'user_not_found' });
      // A taken email (any case), known only to the database: the new organisation is not kept.
      expect(
        await refusedInProcess(
          app,
          'create-user',
          '--email=OPS@acme.example',
          '--username=ops2',
          '--role=staff',
          '--org=new',
          '--org-name=New',
        ),
      ).toMatchObject({
        code: 'email_taken',
        detail: 'A user with this email address already exists.',
      });
      await expectOrgNamesRefused(app);
      // A new organisation is named: an --org without --org-name that is not there is a slip
      // (acme-shp for acme), not one to make, with a key or a user seeing an empty catalogue.
      for (const command of [
        ['create-api-key', '--name=k'],
        ['create-user', '--email=xuser@acme.example', '--username=xuser', '--role=user'],
      ]) {
        expect(await refusedInProcess(app, ...command, '--org=acme-shp')).toMatchObject({
          code: 'not_found',
          detail: 'No organisation "acme-shp": give --org-name to create it. Nothing was created.',
        });
      }
      const [{ n }] = await app
        .get(DataSource)
        .query(
          "SELECT count(*)::int AS n FROM organizations WHERE slug IN ('nowhere', 'new', 'acme-shp')",
        );
      expect(n).toBe(0);
      const refused = await app
        .get(DataSource)
        .query(
          "SELECT (SELECT count(*)::int FROM api_keys WHERE name = 'k') AS keys, (SELECT count(*)::int FROM users WHERE username = 'xuser') AS users",
        );
      expect(refused).toEqual([{ keys: 0, users: 0 }]);
      expect(await canLogIn(app, 'ops', 'ops chosen password')).toBe(true);
    });
  });

  /**
   * --org-name names a new organisation: another name for an existing one is refused, nothing
   * created (acme is named "acme"); its own name is accepted.
   */
  async function expectOrgNamesRefused(app: NestFastifyApplication): Promise<void> {
    expect(
      await refusedInProcess(
        app,
        'create-api-key',
        '--name=k',
        '--org=acme',
        '--org-name=Acme Inc.',
      ),
    ).toMatchObject({
      code: 'conflict',
      detail:
        'Organisation "acme" exists, named "acme", not "Acme Inc.": --org-name names a ' +
        'new organisation only (leave it out, or give its name). Nothing was created.',
    });
    const other = await refusedInProcess(
      app,
      'create-user',
      '--email=xuser@acme.example',
      '--username=xuser',
      '--role=user',
      '--org=acme',
      '--org-name=Other',
    );
    expect(other).toMatchObject({ code: 'conflict', detail: expect.stringContaining('"Other"') });
  }

  /** The file, in local storage, of an image of a new product of organisation `slug`. */
  function storedImageOf(slug: string): Promise<string> {
    return withApp(async (app) => {
      const storage = app.get<StorageProvider>(STORAGE_PROVIDER);
      const { id: organizationId } = await organizationBySlug(app.get(DataSource), slug);
      const product = await newProduct(app.get(DataSource), { organizationId });
      const image = await newImage(app.get(DataSource), {
        organizationId,
        productId: product.id,
        put: (k, data, contentType) => storage.put(k, data, { contentType, cacheControl: '' }),
      });
      return join(db.env.DATA_DIR, 'media', image.storageKey);
    });
  }

  it('delete-organization erases one organisation, its files through the jobs, and no other', async () => {
    const { key } = JSON.parse(
      (await cli('create-api-key', '--name=leaving', '--org=leaving', '--org-name=Leaving')).stdout,
    ) as { key: string };
    const file = await storedImageOf('leaving');
    expect(existsSync(file)).toBe(true);
    // An unknown organisation: an AppError (exit 1, as the process case above shows), the command
    // run in this process. The slug twice, the same, is src/cli/cli-commands.spec.ts's, with the
    // other refusals.
    const config = await loadAppConfig({ env: { ...SILENT, ...db.env } });
    let gone: unknown;
    const printed = await printedDuring(async () => {
      gone = await deleteOrganization(config, QUIET, 'gone').catch((error: unknown) => error);
    });
    expect(printed).toBe('');
    expect(gone).toBeInstanceOf(AppError);
    expect(gone).toMatchObject({ code: 'not_found', detail: 'No organisation "gone".' });

    const { stdout } = await cli('delete-organization', '--org=leaving', '--confirm=leaving');
    expect(JSON.parse(stdout)).toEqual({
      organization: 'leaving',
      products: 1,
      images: 1,
      users: 0,
      api_keys: 1,
      imports: 0,
      idempotency_keys: 0,
      files_queued: 2, // the original, and its transform results' derived/ prefix
    });
    await withApp(async (app) => {
      expect((await call(app, 'GET', '/api/v1/auth/me', { apiKey: key })).statusCode).toBe(401);
      // The service's workers delete the files the CLI queued.
      await eventually(() => !existsSync(file), 'the file to be deleted');
      const orgs = await app.get(DataSource).query<{ slug: string; users: number }[]>(
        `SELECT o.slug, count(u.id)::int AS users FROM organizations o
             LEFT JOIN users u ON u.organization_id = o.id GROUP BY o.slug ORDER BY o.slug`,
      );
      // The others keep their users (acme's ops, default's admin).
      expect(orgs).toEqual([
        { slug: 'acme', users: 1 },
        { slug: 'default', users: 1 },
      ]);
    });
  }, 120_000);

  it('delete-organization runs while the storage is down: it queues the files, the workers delete them once it answers', async () => {
    await cli('create-api-key', '--name=leaving', '--org=outage', '--org-name=Outage');
    const file = await storedImageOf('outage');
    // The command queues the deletions and works none: a storage that does not answer (an S3
    // nobody listens for) must not stop an erasure. Run in this process, as the case above.
    const s3Down = {
      STORAGE_DRIVER: 's3',
      S3_BUCKET: 'product-images',
      S3_ENDPOINT: `http://127.0.0.1:${await closedPort()}`,
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      STORAGE_TIMEOUT_MS: '1000',
    };
    const config = await loadAppConfig({ env: { ...SILENT, ...db.env, ...s3Down } });
    const printed = await printedDuring(() => deleteOrganization(config, QUIET, 'outage'));
    expect(JSON.parse(printed)).toEqual({
      organization: 'outage',
      products: 1,
      images: 1,
      users: 0,
      api_keys: 1,
      imports: 0,
      idempotency_keys: 0,
      files_queued: 2,
    });
    // Once a storage answers (this database's own, local), its workers delete the files.
    await withApp(async () => {
      await eventually(() => !existsSync(file), 'the file to be deleted');
    });
  }, 120_000);
});

/**
 * The embedded database is one process's at a time: the CLI run while the service has it open
 * worked on its own copy, printed success, and lost the change (the service wrote its copy back).
 */
describe('The CLI on the embedded database while the service has it open', () => {
  it('refuses at once, naming the process, and changes nothing', async () => {
    const db = await createTestDatabase('pglite');
    const app = await createApp({
      env: {
        ...SILENT,
        ...db.env,
        ADMIN_EMAIL: TEST_ADMIN.email,
        ADMIN_PASSWORD: TEST_ADMIN.password,
      },
    });
    try {
      const refused = await execFileAsync(
        process.execPath,
        [CLI, 'reset-password', '--user', TEST_ADMIN.email, '--password', 'reset while it runs'],
        { env: { ...inheritedEnv(), ...db.env, LOG_LEVEL: 'silent' } },
      ).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code: number; stderr: string }) => error,
      );
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        `The embedded database in ${join(db.env.DATA_DIR, 'pglite')} is in use by process ${process.pid}`,
      );
      // The service's password is the one that works, before and after it closes.
      await expect(login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password)).resolves.toEqual(
        expect.any(String),
      );
    } finally {
      await app.close();
    }
    try {
      // Once the service has closed, the CLI has it.
      const { stdout } = await execFileAsync(
        process.execPath,
        [CLI, 'reset-password', '--user', TEST_ADMIN.email, '--password', 'reset once it stopped'],
        { env: { ...inheritedEnv(), ...db.env, LOG_LEVEL: 'silent' } },
      );
      expect(JSON.parse(stdout)).toMatchObject({ email: TEST_ADMIN.email });
    } finally {
      await db.drop();
    }
  });
});

/**
 * `npm run -s cli`, as the first start's banner and the README tell an operator of the Docker
 * image: in a folder laid out as the Dockerfile's runtime stage copies it (no Docker here), its
 * files copied and its folders linked. It failed there: scripts/ensure-build.mjs was not copied.
 */
describe('The CLI in the Docker image', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pis-image-layout-'));
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    const copies = [...runtime.matchAll(/^COPY --from=build \/app\/(\S+) \.\/(\S+)$/gm)];
    expect(copies.map(([, from]) => from)).toEqual(
      expect.arrayContaining(['dist', 'package.json']),
    );
    for (const [, from, to] of copies) {
      mkdirSync(dirname(join(dir, to)), { recursive: true });
      if (statSync(join(ROOT, from)).isDirectory()) symlinkSync(join(ROOT, from), join(dir, to));
      else copyFileSync(join(ROOT, from), join(dir, to));
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('answers npm run -s cli -- --help', async () => {
    const { stdout, stderr } = await execFileAsync('npm', ['run', '-s', 'cli', '--', '--help'], {
      cwd: dir,
      env: { ...inheritedEnv(), DATA_DIR: join(dir, 'data') },
    });
    expect(stdout + stderr).toContain('Usage: npm run -s cli');
    // The build in dist/ is taken as it is: the image has no sources to build it from.
    expect(stderr).not.toMatch(/Building|rebuilding/);
  });
});
