// The service under test: the built dist/ of `serviceDir`, started as `node dist/src/main.js` with
// local storage, a temporary DATA_DIR, and a PostgreSQL server database or embedded PGlite. Its
// API keys are made with its own CLI (npm run -s cli -- create-api-key), before it starts.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, startNode, stop, waitReady } from './processes.mjs';

const run = promisify(execFile);

export class Service {
  /**
   * `databaseUrl` unset: PGlite under `dataDir`. `nodeArgs`: options for node itself, before the
   * script (`--cpu-prof`, say).
   */
  constructor({
    serviceDir,
    dataDir,
    databaseUrl,
    logFile,
    logLevel = 'info',
    extraEnv = {},
    nodeArgs = [],
  }) {
    Object.assign(this, {
      serviceDir,
      dataDir,
      databaseUrl,
      logFile,
      logLevel,
      extraEnv,
      nodeArgs,
    });
    this.jwtSecret = randomBytes(32).toString('hex');
    // The key transform URLs are signed with: the bench signs its own (the transforms scenario),
    // and the gallery baseline signs its srcsets with it too.
    this.signingKey = randomBytes(32).toString('hex');
    this.proc = null;
  }

  get pgliteDir() {
    return join(this.dataDir, 'pglite');
  }

  env(port) {
    return {
      NODE_ENV: 'production',
      JWT_SECRET: this.jwtSecret,
      DELIVERY_SIGNING_KEYS: this.signingKey,
      HOST: '127.0.0.1',
      PORT: String(port ?? 3000),
      PUBLIC_BASE_URL: `http://127.0.0.1:${port ?? 3000}`,
      DATA_DIR: this.dataDir,
      STORAGE_DRIVER: 'local',
      LOG_LEVEL: this.logLevel,
      LOG_FORMAT: 'json',
      ...(this.databaseUrl ? { DATABASE_URL: this.databaseUrl } : {}),
      ...this.extraEnv,
    };
  }

  /** An API key of `role` in organisation `org` (created with it when new), made by the CLI. */
  async createApiKey(org, role = 'staff') {
    await mkdir(this.dataDir, { recursive: true });
    const { stdout } = await run(
      process.execPath,
      [
        join('dist', 'src', 'cli.js'),
        'create-api-key',
        '--name',
        `bench ${org}`,
        '--role',
        role,
        '--org',
        org,
        // A new organisation is named (the CLI refuses a new --org without a name, as a slip).
        '--org-name',
        org,
      ],
      { cwd: this.serviceDir, env: { PATH: process.env.PATH, ...this.env() }, timeout: 120_000 },
    );
    return JSON.parse(stdout).key;
  }

  /** Starts the service and waits for /health/ready; returns the milliseconds that took. */
  async start() {
    this.port ??= await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    this.proc = startNode('service', [...this.nodeArgs, join('dist', 'src', 'main.js')], {
      cwd: this.serviceDir,
      env: this.env(this.port),
      logFile: this.logFile,
    });
    return waitReady(this.proc, `${this.url}/health/ready`, 120_000);
  }

  async stop() {
    await stop(this.proc, 15_000);
    this.proc = null;
  }

  get pid() {
    return this.proc.pid;
  }
}

/**
 * A baseline server from bench/baselines, on a free port; resolves once it answers /ready.
 * `nodeArgs` as the service's (a profile of the baseline too).
 */
export async function startBaseline(name, script, env, logFile, nodeArgs = []) {
  const port = await freePort();
  const proc = startNode(name, [...nodeArgs, script], {
    env: { ...env, PORT: String(port), PUBLIC_BASE_URL: `http://127.0.0.1:${port}` },
    logFile,
  });
  await waitReady(proc, `http://127.0.0.1:${port}/ready`, 60_000);
  return { name, proc, url: `http://127.0.0.1:${port}`, pid: proc.pid };
}
