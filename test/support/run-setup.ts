import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { validateEnv } from '../../src/config/env.validation';
import { buildDataSourceOptions } from '../../src/database/data-source.options';
import { runPendingMigrations } from '../../src/database/run-migrations';
import { cleanUpRun, describeLeftovers, findLeftovers } from './leftovers';
import { databaseUrl } from './test-database';
import {
  currentRun,
  RUN_ID_VARIABLE,
  RUN_ROOT_VARIABLE,
  runPaths,
  templateDatabaseName,
  type TestRun,
} from './test-run';

async function migrate(env: Record<string, string>): Promise<void> {
  const options = { ...buildDataSourceOptions(validateEnv(env)), logging: false as const };
  const dataSource = await new DataSource({ ...options, logger: 'simple-console' }).initialize();
  try {
    await runPendingMigrations(dataSource);
  } finally {
    await dataSource.destroy();
  }
}

/** The migrated embedded database every test file starts from a copy of. */
async function makePgliteTemplate(run: TestRun): Promise<void> {
  await migrate({ DATA_DIR: join(run.pgliteTemplate, '..') });
}

/** The migrated server database every test file's database is cloned from. */
async function makeServerTemplate(run: TestRun, serverUrl: string): Promise<void> {
  const name = templateDatabaseName(run.id);
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  await migrate({
    DATA_DIR: join(run.root, 'template'),
    DATABASE_URL: databaseUrl(serverUrl, name),
  });
}

/** The run this Jest process started, shared by the global set-ups of its projects. */
const STARTED = Symbol.for('product-image-service.test-run');
type Started = { run: TestRun; server: Promise<unknown>; pglite: Promise<unknown> };
const processState = globalThis as { [STARTED]?: Started };

function startRun(): Started {
  const id = randomBytes(4).toString('hex');
  const run = runPaths(id, mkdtempSync(join(tmpdir(), `pis-run-${id}-`)));
  mkdirSync(run.tmp, { recursive: true });
  process.env[RUN_ID_VARIABLE] = run.id;
  process.env[RUN_ROOT_VARIABLE] = run.root;
  // Inherited by the workers (and what they start): os.tmpdir() is the run's own folder.
  process.env.TMPDIR = run.tmp;
  // Node's on-disk cache of compiled modules (Node 22.1+), for the workers and every node process
  // a test starts (the built service, the CLI: about 1,500 modules each, dozens of start-ups a
  // run): a start-up after the first skips compiling them. The suite is CPU-bound on two cores.
  process.env.NODE_COMPILE_CACHE = join(run.root, 'node-compile-cache');
  const serverUrl = process.env.TEST_DATABASE_URL;
  const server = serverUrl ? makeServerTemplate(run, serverUrl) : Promise.resolve();
  return {
    run,
    server,
    // After the server's: the embedded database computes in this process, and its migrations
    // held the event loop long enough on a loaded machine for the server's connection to time
    // out (10 s) in the middle of its handshake.
    pglite: server.catch(() => undefined).then(() => makePgliteTemplate(run)),
  };
}

/**
 * Gives the run its id and folder (the workers' TMPDIR, so that whatever a test leaves behind is
 * found by the global teardown) and migrates the database templates once. Called by the global
 * set-up of every project that uses databases (e2e, integration): the first call starts the run,
 * later ones share it.
 *
 * `alongside` is the caller's own set-up (child processes: the build, the SDK). It starts once the
 * server's template is made (a few seconds of waiting on the server, whose connection times out
 * after 10 s: it gets the machine first), and runs while the embedded template migrates (the
 * embedded database computes in this process, so it waits for the server's template too). Everything settles before a failure is thrown, and
 * a failure leaves nothing behind (Jest runs no teardown after a failed set-up).
 */
export async function prepareRun(
  alongside: (run: TestRun) => Promise<unknown>[] = () => [],
): Promise<TestRun> {
  const started = (processState[STARTED] ??= startRun());
  const { run } = started;
  const server = await Promise.allSettled([started.server]);
  const rest = await Promise.allSettled([
    started.pglite,
    ...(server[0].status === 'fulfilled' ? alongside(run) : []),
  ]);
  const failed = [...server, ...rest].find(
    (result): result is PromiseRejectedResult => result.status === 'rejected',
  );
  if (failed) {
    delete processState[STARTED];
    await cleanUpRun(run).catch(() => undefined);
    throw failed.reason;
  }
  return run;
}

/**
 * What the run left behind (a process, a database, a file), then removes all of it, the run's
 * folder included. Called by every project's global teardown: the first one does the work.
 */
export async function finishRun(): Promise<string[]> {
  delete processState[STARTED];
  const run = currentRun();
  if (!run) return [];
  const serverUrl = process.env.TEST_DATABASE_URL;
  const problems = describeLeftovers(await findLeftovers(run, serverUrl));
  await cleanUpRun(run, serverUrl);
  return problems;
}

export function failOnLeftovers(problems: string[]): void {
  if (problems.length > 0) {
    throw new Error(
      `The tests left ${problems.length} thing(s) behind (now removed):\n  ${problems.join('\n  ')}`,
    );
  }
}
