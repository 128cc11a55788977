import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { validateEnv } from '../../src/config/env.validation';
import { buildDataSourceOptions } from '../../src/database/data-source.options';
import { runProcesses } from './leftovers';
import { inheritedEnv } from './process';
import {
  AVAILABLE_BACKENDS,
  createTestDatabase,
  testFolderPrefix,
  type TestDatabase,
} from './test-database';
import { startTestApp } from './test-app';
import { currentRun } from './test-run';

/** Paths this process holds open below `dir` (a database left open after a failed start, say). */
function openFilesBelow(dir: string): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(join('/proc/self/fd', fd));
      return target.startsWith(dir) ? [target] : [];
    } catch {
      return [];
    }
  });
}

async function serverDatabaseExists(name: string): Promise<boolean> {
  const client = new Client({ connectionString: process.env.TEST_DATABASE_URL });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return rowCount === 1;
  } finally {
    await client.end();
  }
}

async function appliedMigrations(db: TestDatabase): Promise<number> {
  const ds = await new DataSource({
    ...buildDataSourceOptions(validateEnv(db.env)),
    logging: false,
    logger: 'simple-console',
  }).initialize();
  try {
    const [{ n }] = await ds.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'migrations'`,
    );
    if (n === 0) return 0;
    const [{ applied }] = await ds.query<{ applied: number }[]>(
      'SELECT count(*)::int AS applied FROM migrations',
    );
    return applied;
  } finally {
    await ds.destroy();
  }
}

/** The test databases and the run's bookkeeping, on which every other e2e test relies. */
describe('Test databases', () => {
  it('run inside a run of their own: TMPDIR is the run folder', () => {
    const run = currentRun();
    expect(run).toBeDefined();
    expect(tmpdir()).toBe(run!.tmp);
  });

  describe.each(AVAILABLE_BACKENDS)('on %s', (backend) => {
    it('start migrated (a copy of the run template) unless asked for an empty one', async () => {
      const migrated = await createTestDatabase(backend);
      const empty = await createTestDatabase(backend, { schema: 'empty' });
      try {
        expect(await appliedMigrations(migrated)).toBeGreaterThan(0);
        expect(await appliedMigrations(empty)).toBe(0);
      } finally {
        await migrated.drop();
        await empty.drop();
      }
    });

    it('are dropped with their folder, and a second drop is harmless', async () => {
      const db = await createTestDatabase(backend);
      await db.drop();
      await db.drop();
      expect(existsSync(db.env.DATA_DIR)).toBe(false);
      if (db.url) expect(await serverDatabaseExists(new URL(db.url).pathname.slice(1))).toBe(false);
    });
  });

  it('a start the application refuses leaves no database, folder or open file behind', async () => {
    // This process's folders only: another Jest worker may be making or removing its own.
    const ours = () => readdirSync(tmpdir()).filter((name) => name.startsWith(testFolderPrefix()));
    const before = ours();
    // Files other test files of this worker left open (servers of theirs, say) are not this one's.
    const openBefore = new Set(openFilesBelow(tmpdir()));
    // A storage folder whose write area is a file: refused by the storage's start-up check, once
    // the database is open (a folder that is a file is refused sooner, with the configuration).
    const storageDir = join(tmpdir(), 'write-area-is-a-file');
    mkdirSync(storageDir, { recursive: true });
    writeFileSync(join(storageDir, '.tmp'), '');
    try {
      await expect(startTestApp({ STORAGE_LOCAL_DIR: storageDir })).rejects.toThrow(
        /STORAGE_DRIVER=local\) is not usable/,
      );
      expect(ours()).toEqual(before);
      expect(openFilesBelow(tmpdir()).filter((file) => !openBefore.has(file))).toEqual([]);
    } finally {
      rmSync(storageDir, { recursive: true, force: true });
    }
  });

  it('a process that outlives its test is found by the run', async () => {
    const child = spawn('sleep', ['30'], { env: inheritedEnv(), stdio: 'ignore' });
    await once(child, 'spawn');
    try {
      expect(runProcesses(currentRun()!).map((p) => p.pid)).toContain(child.pid);
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    expect(runProcesses(currentRun()!).map((p) => p.pid)).not.toContain(child.pid);
  });
});
