import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

export interface TestDatabase {
  /** Environment variables that point the service at this database. */
  env: Record<string, string>;
  kind: 'postgres' | 'pglite';
  /** For real servers: the URL of the created database. */
  url?: string;
  drop(): Promise<void>;
}

/** The backends available to this run: PGlite always, the server when TEST_DATABASE_URL is set. */
export const AVAILABLE_BACKENDS: ('pglite' | 'postgres')[] = process.env.TEST_DATABASE_URL
  ? ['pglite', 'postgres']
  : ['pglite'];

/**
 * A fresh, empty database for one test file. With TEST_DATABASE_URL set, a new database is created
 * on that PostgreSQL server (and dropped afterwards); otherwise an embedded PGlite in a temporary
 * data directory.
 */
export async function createTestDatabase(
  kind: 'postgres' | 'pglite' | 'default' = 'default',
): Promise<TestDatabase> {
  const serverUrl = kind === 'pglite' ? undefined : process.env.TEST_DATABASE_URL;
  if (kind === 'postgres' && !serverUrl) throw new Error('TEST_DATABASE_URL is not set');
  const dataDir = mkdtempSync(join(tmpdir(), 'pis-test-'));
  if (!serverUrl) {
    return {
      kind: 'pglite',
      env: { DATA_DIR: dataDir },
      drop: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })),
    };
  }
  const name = `pis_test_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    kind: 'postgres',
    url: url.toString(),
    env: { DATA_DIR: dataDir, DATABASE_URL: url.toString() },
    drop: async () => {
      const client = new Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
