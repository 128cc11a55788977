import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { RUN_ID_VARIABLE, RUN_ROOT_VARIABLE } from './test-run';

export const ROOT = join(__dirname, '..', '..');
export const MAIN = join(ROOT, 'dist', 'src', 'main.js');

/** Builds dist/ if sources changed (the same step `npm start` runs). */
export function ensureBuilt(): void {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'ensure-build.mjs')], {
    cwd: ROOT,
    stdio: 'pipe',
  });
}

/** Runs a Node.js script of the repository; rejects with its error output when it fails. */
function runScript(script: string, args: string[] = []): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(ROOT, 'scripts', script), ...args],
      { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 },
      (error, _stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stderr}`));
        else resolve();
      },
    );
  });
}

/** {@link ensureBuilt} without blocking: the global set-up migrates meanwhile. */
export function ensureBuiltAsync(): Promise<void> {
  return runScript('ensure-build.mjs');
}

/**
 * Compiles the DTOs and controllers with the @nestjs/swagger plugin into the Jest transform's
 * store (scripts/jest-transform.cjs) when the sources changed since it last did: once, in a
 * process of its own, instead of in every worker.
 */
export function precompileTransforms(cacheDirectory: string): Promise<void> {
  return runScript('jest-transform.cjs', ['--precompile', cacheDirectory]);
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export interface RunningService {
  child: ChildProcess;
  output(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * What every process a test starts inherits besides its own variables: PATH, and TMPDIR and the
 * run's marker, so that the global teardown finds it (and fails the run) if it outlives its test;
 * and the run's compile cache (test/support/run-setup.ts), so that its start-up compiles less.
 */
export function inheritedEnv(): Record<string, string> {
  const names = ['PATH', 'TMPDIR', RUN_ID_VARIABLE, RUN_ROOT_VARIABLE, 'NODE_COMPILE_CACHE'];
  return Object.fromEntries(
    names.flatMap((name) => (process.env[name] ? [[name, process.env[name]]] : [])),
  );
}

/** Starts the compiled service with exactly the given environment (plus {@link inheritedEnv}). */
export function startService(env: Record<string, string>, cwd: string): RunningService {
  const child = spawn(process.execPath, [MAIN], {
    cwd,
    env: { ...inheritedEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  return { child, output: () => output, exit };
}

/**
 * The limit of a test that starts the service itself and waits for it to be ready (jest.setTimeout
 * in its file): above {@link waitForStatus}'s deadline, so a slow start fails with the wait's own
 * message (the last status seen) rather than Jest's bare timeout. With the default 60 s, a readiness
 * test failed so in CI while three workers and Chromium shared two cores.
 */
export const SERVICE_TEST_TIMEOUT_MS = 180_000;

/**
 * Polls `url` until it answers `status`. The default deadline is generous: the built service on a
 * new embedded (PGlite) database took 28-50 s to be ready on this 2-core machine while other tests
 * and a soak ran beside it (console-output.e2e missed a 30 s deadline so). A deadline, not a
 * timing assertion: a service that is ready sooner is waited for no longer.
 */
export async function waitForStatus(
  url: string,
  status: number,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.status === status) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}

/** Starts the service and waits until it answers ready; the caller stops it. */
export async function startReadyService(
  env: Record<string, string>,
  cwd: string,
  baseUrl: string,
): Promise<RunningService> {
  const service = startService(env, cwd);
  await waitForStatus(`${baseUrl}/health/ready`, 200, 120_000);
  return service;
}

/** A user's access token from a service process over HTTP (POST /api/v1/auth/login, 200). */
export async function loginOverHttp(
  baseUrl: string,
  credentials: { email: string; password: string },
): Promise<string> {
  const res = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(credentials),
  });
  if (res.status !== 200) throw new Error(`Login answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/**
 * POSTs `body` as JSON to a service process over HTTP (with `token` as its bearer) and returns the
 * answer's JSON body, whatever its status: for set-up steps whose answer the test reads.
 */
export async function postJsonOverHttp(
  baseUrl: string,
  path: string,
  body: unknown,
  token?: string,
): Promise<Record<string, string>> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, string>;
}

/**
 * The pids of the running processes (Linux's /proc) whose parent is `parent` and whose command
 * line contains `command`: what a test checks is not left running.
 */
export function childProcesses(parent: number, command: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      // After the command's name in parentheses: the state, then the parent's pid.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'latin1');
      if (ppid === parent && cmdline.includes(command)) found.push(Number(entry));
    } catch {
      // The process ended while it was read.
    }
  }
  return found;
}

/** Whether `pid` is running: it exists and is not a zombie waiting for its parent to reap it. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * A process's anonymous resident memory (RssAnon: its heaps, malloc's and V8's), in bytes. Not
 * VmRSS: that also counts pages mapped from files (the node binary, shared libraries), which the
 * kernel drops and maps again as it likes, so on a busy machine a request that runs code paths
 * unused for a while "grows" the process by tens of megabytes it never allocated.
 */
export function anonymousMemory(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^RssAnon:\s+(\d+) kB$/m.exec(status);
  if (!kb) throw new Error(`no RssAnon for ${pid}`);
  return Number(kb[1]) * 1024;
}
