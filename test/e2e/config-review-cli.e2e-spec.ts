import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, inheritedEnv, MAIN, startService } from '../support/process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const execFileAsync = promisify(execFile);
const CLI = MAIN.replace(/main\.js$/, 'cli.js');

/**
 * The account commands count no logins, so the login limits' Redis (REDIS_URL) is none of their
 * business: a Redis that is down, or that never answers, must not stop a password reset.
 */
describe('npm run -s cli -- with REDIS_URL set', () => {
  let db: TestDatabase;
  let silent: Server;
  const sockets: Socket[] = [];
  const cli = (redisUrl: string, ...args: string[]) =>
    execFileAsync(process.execPath, [CLI, ...args], {
      env: { ...inheritedEnv(), ...db.env, LOG_LEVEL: 'silent', REDIS_URL: redisUrl },
    });

  beforeAll(async () => {
    db = await createTestDatabase();
    // A Redis that takes connections and never answers.
    silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  }, 120_000);
  afterAll(async () => {
    sockets.forEach((socket) => socket.destroy());
    await new Promise((resolve) => silent?.close(resolve));
    await db?.drop();
  });

  it('creates and resets accounts while that Redis is down or silent, never naming its password', async () => {
    const down = 'redis://:redis-password-not-to-print@127.0.0.1:1/5';
    const created = await cli(
      down,
      'create-user',
      '--email=ops@acme.example',
      '--username=ops',
      '--role=staff',
      '--org=acme',
      '--org-name=Acme',
    );
    expect(JSON.parse(created.stdout)).toMatchObject({ username: 'ops' });
    const { port } = silent.address() as { port: number };
    const reset = await cli(
      `redis://:redis-password-not-to-print@127.0.0.1:${port}`,
      'reset-password',
      '--user=ops',
      '--org=acme',
    );
    const printed = JSON.parse(reset.stdout) as { username: string; password: string };
    expect(printed.username).toBe('ops');
    expect(printed.password.length).toBeGreaterThanOrEqual(12);
    for (const output of [created.stdout, created.stderr, reset.stdout, reset.stderr]) {
      expect(output).not.toContain('redis-password-not-to-print');
    }
  }, 120_000);
});

/**
 * Start-ups that cannot succeed end at once, with exit 1 and one message naming what to fix.
 * Each run has a deadline that a hang meets: such a start used to spin for ever.
 */
describe('Start-ups that cannot succeed', () => {
  const DEADLINE_MS = 45_000;
  const SECRETS = {
    JWT_SECRET: 'a-jwt-secret-of-at-least-32-characters',
    LOG_LEVEL: 'error',
  };
  let cwd: string;
  beforeAll(() => (cwd = mkdtempSync(join(tmpdir(), 'pis-refusals-'))));
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  /** The CLI's exit code and output, or null when the deadline killed it. */
  const cliRun = (env: Record<string, string>) =>
    execFileAsync(process.execPath, [CLI, 'reset-password', '--user=admin'], {
      cwd,
      env: { ...inheritedEnv(), ...SECRETS, ...env },
      timeout: DEADLINE_MS,
      killSignal: 'SIGKILL',
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code?: number | null; stdout: string; stderr: string }) => ({
        code: typeof error.code === 'number' ? error.code : null,
        stdout: error.stdout,
        stderr: error.stderr,
      }),
    );
  /** The service's exit code and output, or code null when the deadline killed it. */
  const serviceRun = async (env: Record<string, string>) => {
    const port = String(await freePort());
    const service = startService({ ...SECRETS, HOST: '127.0.0.1', PORT: port, ...env }, cwd);
    const killer = setTimeout(() => service.child.kill('SIGKILL'), DEADLINE_MS);
    const { code } = await service.exit.finally(() => clearTimeout(killer));
    return { code, output: service.output() };
  };

  it('refuses DATA_DIR or STORAGE_LOCAL_DIR in /proc, naming the setting (it spun for ever)', async () => {
    const [cli, service] = await Promise.all([
      cliRun({ DATA_DIR: '/proc/pis-nowhere' }),
      serviceRun({ DATA_DIR: join(cwd, 'data'), STORAGE_LOCAL_DIR: '/proc/pis-nowhere/media' }),
    ]);
    const rule =
      "must be a folder on a disk, not in the kernel's /proc or /sys, where no folder or file " +
      'can be made';
    expect(cli).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'Invalid configuration; the service cannot start:\n' +
        `  - DATA_DIR: ${rule}\n` +
        'See .env.example and the README for every setting and its default.\n',
    });
    expect(service.code).toBe(1);
    expect(service.output).toContain(`  - STORAGE_LOCAL_DIR: ${rule}\n`);
  }, 60_000);

  it("says once, in the service's own words, that the database cannot be reached", async () => {
    const url = `postgres://ops:not-this-secret@127.0.0.1:${await freePort()}/nowhere`;
    const [cli, service] = await Promise.all([
      cliRun({ DATABASE_URL: url }),
      serviceRun({ DATABASE_URL: url, DATA_DIR: join(cwd, 'data') }),
    ]);
    const port = new URL(url).port;
    expect(cli).toEqual({
      code: 1,
      stdout: '',
      stderr: `Database (DATABASE_URL) is not usable: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    });
    expect(service.code).toBe(1);
    expect(service.output).toContain(
      `Start-up failed: Database (DATABASE_URL) is not usable: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    );
    // Not TypeORM's line before it, which announced a retry that never came.
    expect(service.output).not.toMatch(/Retrying|Unable to connect/);
  }, 60_000);
});
