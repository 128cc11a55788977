import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  ensureBuilt,
  freePort,
  ROOT,
  startService,
  waitForStatus,
  type RunningService,
} from '../support/process';

/**
 * The README's "Walkthrough", run as a reader runs it: its first ```sh block starts the service
 * (`... npm start`, whose variables are used here to start the compiled service), and all the
 * other ```sh blocks of the section are run in order in ONE `bash -euxo pipefail`, so that the
 * variables one block makes are there for the next, with the real curl and jq (the trace says
 * which command failed). The only change made to them is the address: `BASE=http://localhost:3000`
 * points at this test's port instead. A `# ` line in a block is what the command before it
 * prints: each must appear in the output, in order. So a broken command, a variable used before it
 * is made, or an output that changed fails this test.
 */

interface Walkthrough {
  /** Variables of the `npm start` command line. */
  startEnv: Record<string, string>;
  /** The other blocks, joined. */
  script: string;
  /** The `# ` lines: expected output, in order. */
  expected: string[];
}

const README_BASE_LINE = 'BASE=http://localhost:3000';

function readWalkthrough(readme: string): Walkthrough {
  const section = /^## Walkthrough\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  if (!section) throw new Error('README.md has no "## Walkthrough" section');
  const blocks = [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  if (blocks.length < 2) throw new Error('the Walkthrough has fewer than two ```sh blocks');
  const [start, ...rest] = blocks;
  const startLine = start.split('\n').find((line) => /\bnpm start$/.test(line));
  const assignments = startLine && /^((?:[A-Z_]+=\S+ +)*)npm start$/.exec(startLine)?.[1];
  if (assignments === undefined || assignments === null) {
    throw new Error(
      `the Walkthrough's first block does not end with "VAR=value ... npm start":\n${start}`,
    );
  }
  const startEnv = Object.fromEntries(
    assignments
      .trim()
      .split(/ +/)
      .filter(Boolean)
      .map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
  );
  const script = rest.join('\n');
  const expected = script
    .split('\n')
    .filter((line) => line.startsWith('# '))
    .map((line) => line.slice(2));
  return { startEnv, script, expected };
}

function run(
  script: string,
  cwd: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Its own process group, so that a hanging curl is stopped with the shell.
    const child = spawn('bash', ['-euxo', 'pipefail', '-c', script], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      stderr += `\n[test] the walkthrough did not finish within ${timeoutMs} ms: stopped\n`;
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Whether `lines` contains each of `expected`, in that order. */
function missingInOrder(lines: string[], expected: string[]): string | undefined {
  let at = 0;
  for (const line of expected) {
    const found = lines.indexOf(line, at);
    if (found < 0) return line;
    at = found + 1;
  }
  return undefined;
}

describe('README walkthrough', () => {
  const walkthrough = readWalkthrough(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  let work: string;
  let dataDir: string;
  let service: RunningService | undefined;
  let port: number;

  beforeAll(async () => {
    for (const tool of ['curl', 'jq']) {
      if (spawnSync(tool, ['--version']).error) {
        throw new Error(`the walkthrough needs ${tool} (apt-get install ${tool})`);
      }
    }
    ensureBuilt();
    work = mkdtempSync(join(tmpdir(), 'pis-walkthrough-'));
    dataDir = mkdtempSync(join(tmpdir(), 'pis-walkthrough-data-'));
    port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    service = startService(
      {
        ...walkthrough.startEnv,
        // A fresh database (the README's DATA_DIR is relative to the repository), on this port.
        DATA_DIR: dataDir,
        PORT: String(port),
        HOST: '127.0.0.1',
        PUBLIC_BASE_URL: base,
        LOG_LEVEL: 'warn',
      },
      ROOT,
    );
    await Promise.race([
      waitForStatus(`${base}/health/ready`, 200),
      service.exit.then(({ code }) => {
        throw new Error(`the service exited (${code}) before it was ready:\n${service?.output()}`);
      }),
    ]);
  }, 180_000);

  afterAll(async () => {
    try {
      if (service && service.child.exitCode === null && service.child.signalCode === null) {
        service.child.kill('SIGTERM');
        await service.exit;
      }
    } finally {
      for (const dir of [work, dataDir]) if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts the service as the README says, with a known administrator', () => {
    expect(walkthrough.startEnv).toEqual(
      expect.objectContaining({
        ADMIN_EMAIL: expect.any(String),
        ADMIN_PASSWORD: expect.any(String),
      }),
    );
  });

  it('runs every command of the walkthrough, from logging in to a resized image', async () => {
    const lines = walkthrough.script.split('\n');
    const baseLines = lines.filter((line) => line === README_BASE_LINE);
    expect(baseLines).toHaveLength(1);
    const script = lines
      .map((line) => (line === README_BASE_LINE ? `BASE=http://127.0.0.1:${port}` : line))
      .join('\n');

    const result = await run(
      script,
      work,
      {
        PATH: process.env.PATH ?? '',
        // No ~/.curlrc or other personal settings; the commands run "in the repository", where
        // `require('sharp')` finds node_modules.
        HOME: work,
        NODE_PATH: join(ROOT, 'node_modules'),
        // The test run's folder and marker, so that whatever outlives the test is found.
        ...Object.fromEntries(
          Object.entries(process.env).filter(
            (e): e is [string, string] =>
              (e[0] === 'TMPDIR' || e[0].startsWith('PIS_')) && e[1] !== undefined,
          ),
        ),
      },
      120_000,
    );
    const report = `exit ${result.code}\n--- stdout\n${result.stdout}--- stderr\n${result.stderr}`;
    if (result.code !== 0) throw new Error(`The README walkthrough failed:\n${report}`);
    const missing = missingInOrder(result.stdout.split('\n'), walkthrough.expected);
    if (missing !== undefined) {
      throw new Error(`The README walkthrough did not print "${missing}" (in order):\n${report}`);
    }

    // The rendition on disk is a real image of the advertised size.
    const metadata = await sharp(join(work, 'front-large.webp')).metadata();
    expect({ format: metadata.format, width: metadata.width, height: metadata.height }).toEqual({
      format: 'webp',
      width: 1200,
      height: 900,
    });
  }, 150_000);
});
