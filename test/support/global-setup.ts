import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { validateEnv } from '../../src/config/env.validation';
import { buildDataSourceOptions } from '../../src/database/data-source.options';
import { runPendingMigrations } from '../../src/database/run-migrations';
import { cleanUpRun } from './leftovers';
import { clearResults } from './openapi-recorder';
import { ensureBuilt } from './process';
import { generateSdk } from './sdk';
import { databaseUrl } from './test-database';
import {
  RUN_ID_VARIABLE,
  RUN_ROOT_VARIABLE,
  runPaths,
  templateDatabaseName,
  type TestRun,
} from './test-run';
import { Client } from 'pg';

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

/**
 * globalSetup of the e2e project: gives the run its id and folder (the workers' TMPDIR, so that
 * whatever a test leaves behind is found by the global teardown), migrates the database templates
 * once, forgets the last run's response records, generates the SDK and builds dist/ if stale.
 */
export default async function globalSetup(): Promise<void> {
  const id = randomBytes(4).toString('hex');
  const run = runPaths(id, mkdtempSync(join(tmpdir(), `pis-run-${id}-`)));
  mkdirSync(run.tmp, { recursive: true });
  process.env[RUN_ID_VARIABLE] = run.id;
  process.env[RUN_ROOT_VARIABLE] = run.root;
  // Inherited by the workers (and what they start): os.tmpdir() is the run's own folder.
  process.env.TMPDIR = run.tmp;
  try {
    const serverUrl = process.env.TEST_DATABASE_URL;
    // Both settle before a failure is thrown, so the clean-up below never races a migration.
    const made = await Promise.allSettled([
      makePgliteTemplate(run),
      serverUrl ? makeServerTemplate(run, serverUrl) : Promise.resolve(),
    ]);
    for (const result of made) if (result.status === 'rejected') throw result.reason;
    clearResults();
    generateSdk();
    // Once, before the workers: tests that start the compiled service would otherwise race to
    // rebuild dist/ (nest build empties it first) under each other's running services.
    ensureBuilt();
  } catch (error) {
    // Jest runs no teardown after a failed set-up: leave nothing behind here either.
    await cleanUpRun(run).catch(() => undefined);
    throw error;
  }
}
