import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { currentRun, databasePrefix, templateDatabaseName } from './test-run';

export interface TestDatabase {
  /** Environment variables that point the service at this database. */
  env: Record<string, string>;
  kind: 'postgres' | 'pglite';
  /** For real servers: the URL of the created database. */
  url?: string;
  /** Drops the database and removes its folder; safe to call more than once. */
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /**
   * `migrated` (the default): a copy of the run's database template, on which every migration
   * has already run, so a test file starts in well under a second. `empty`: a new, empty database,
   * for the tests of the migrations themselves.
   */
  schema?: 'migrated' | 'empty';
}

/** The backends available to this run: PGlite always, the server when TEST_DATABASE_URL is set. */
export const AVAILABLE_BACKENDS: ('pglite' | 'postgres')[] = process.env.TEST_DATABASE_URL
  ? ['pglite', 'postgres']
  : ['pglite'];

async function onServer<T>(serverUrl: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The URL of `name` on the server of `serverUrl`. */
export function databaseUrl(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The rows `text` reads on the server database at `url`, on a connection of its own. */
export async function queryRows<T>(
  url: string | undefined,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as T[];
  } finally {
    await client.end();
  }
}

export function dropServerDatabase(serverUrl: string, name: string): Promise<void> {
  return onServer(serverUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });
}

/**
 * The start of the names of this process's database folders: with two Jest workers sharing the
 * run's TMPDIR, a test can tell its own folders from another worker's.
 */
export function testFolderPrefix(): string {
  return `pis-test-${process.pid}-`;
}

/**
 * A fresh database for one test file. With TEST_DATABASE_URL set, a new database on that
 * PostgreSQL server (cloned from the run's migrated template with CREATE DATABASE … TEMPLATE);
 * otherwise an embedded PGlite whose data folder is a copy of the run's migrated one. Each gets its
 * own DATA_DIR, under the run's TMPDIR. `drop()` removes both.
 */
export async function createTestDatabase(
  kind: 'postgres' | 'pglite' | 'default' = 'default',
  options: TestDatabaseOptions = {},
): Promise<TestDatabase> {
  const serverUrl = kind === 'pglite' ? undefined : process.env.TEST_DATABASE_URL;
  if (kind === 'postgres' && !serverUrl) throw new Error('TEST_DATABASE_URL is not set');
  const run = currentRun();
  const fromTemplate = (options.schema ?? 'migrated') === 'migrated' && run !== undefined;
  const dataDir = mkdtempSync(join(tmpdir(), testFolderPrefix()));
  const removeDataDir = (): void => rmSync(dataDir, { recursive: true, force: true });

  if (!serverUrl) {
    if (fromTemplate && existsSync(run.pgliteTemplate)) {
      cpSync(run.pgliteTemplate, join(dataDir, 'pglite'), { recursive: true });
    }
    return {
      kind: 'pglite',
      env: { DATA_DIR: dataDir },
      drop: () => Promise.resolve(removeDataDir()),
    };
  }

  const name = `${databasePrefix(run?.id)}${randomBytes(6).toString('hex')}`;
  const template = fromTemplate ? ` TEMPLATE "${templateDatabaseName(run.id)}"` : '';
  try {
    await onServer(serverUrl, (client) => client.query(`CREATE DATABASE "${name}"${template}`));
  } catch (error) {
    removeDataDir();
    throw error;
  }
  const url = databaseUrl(serverUrl, name);
  return {
    kind: 'postgres',
    url,
    env: { DATA_DIR: dataDir, DATABASE_URL: url },
    drop: async () => {
      try {
        await dropServerDatabase(serverUrl, name);
      } finally {
        removeDataDir();
      }
    },
  };
}
