import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { freePort, inheritedEnv, ROOT, waitForStatus } from '../support/process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/** The parent pid of a process, from /proc (Linux), or undefined once it is gone. */
function parentPid(pid: number): number | undefined {
  try {
    // "pid (comm) state ppid …": comm may hold spaces, so read after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The pid the service logs on its "Listening on" line (pino writes its pid on every line). */
function servicePid(output: string): number | undefined {
  const line = output.split('\n').find((l) => l.includes('"msg":"Listening on'));
  return line ? (JSON.parse(line) as { pid: number }).pid : undefined;
}

/**
 * The documented command, `npm start`, as a process manager runs it: SIGTERM to npm must reach
 * the service (npm forwards it to the script's process, which must therefore be node itself, not
 * a `sh -c` that drops it), which shuts down gracefully; npm exits 0 and nothing is left behind.
 * What it serves includes the gallery console, built with the service.
 */
describe('npm start', () => {
  let db: TestDatabase;

  // dist/ is built by the global set-up, so prestart (ensure-build) finds nothing to do.
  beforeAll(async () => (db = await createTestDatabase()));
  afterAll(() => db.drop());

  it('stops gracefully on SIGTERM and exits 0, leaving no process behind', async () => {
    const port = await freePort();
    const npm = spawn('npm', ['start'], {
      cwd: ROOT,
      env: {
        ...inheritedEnv(),
        HOME: process.env.HOME ?? '', // npm's cache and logs
        ...db.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        ADMIN_EMAIL: 'admin@npm-start.example',
        ADMIN_PASSWORD: 'npm start admin password',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exit = once(npm, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

    let pid: number | undefined;
    try {
      await waitForStatus(`http://127.0.0.1:${port}/health/ready`, 200, 60_000);
      pid = servicePid(output);
      expect(pid).toBeDefined();
      // The build npm start serves includes the console.
      const page = await fetch(`http://127.0.0.1:${port}/console`);
      const html = await page.text();
      expect([page.status, page.headers.get('content-type')]).toEqual([
        200,
        'text/html; charset=utf-8',
      ]);
      expect(html).toMatch(/<script type="module" crossorigin src="\/console\/assets\/[^"]+\.js">/);
      const parent = parentPid(pid!);
      npm.kill('SIGTERM');
      const [code, signal] = await exit;
      await new Promise((r) => setTimeout(r, 500)); // an orphan would still be shutting down
      expect({
        exit: { code, signal },
        serviceWasNpmsChild: parent === npm.pid,
        loggedGracefulShutdown: output.includes('shutting down gracefully'),
        serviceLeftRunning: isAlive(pid!),
      }).toEqual({
        exit: { code: 0, signal: null },
        serviceWasNpmsChild: true,
        loggedGracefulShutdown: true,
        serviceLeftRunning: false,
      });
    } finally {
      // Never leave a service behind, whatever failed above: only the pids this test started.
      if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
      if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  }, 120_000);
});
