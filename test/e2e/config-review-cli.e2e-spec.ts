import { execFile } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { inheritedEnv, MAIN } from '../support/process';
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
