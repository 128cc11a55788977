import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { validateEnv } from '../../src/config/env.validation';
import { buildDataSourceOptions } from '../../src/database/data-source.options';
import { runPendingMigrations } from '../../src/database/run-migrations';
import { AVAILABLE_BACKENDS, createTestDatabase, type TestDatabase } from './test-database';

const MIGRATIONS_DIR = join(__dirname, '..', '..', 'migrations');
/** The limit of a migration's test: three times a test's (testTimeout), as a file's set-up has. */
const MIGRATION_TEST_TIMEOUT_MS = 180_000;

/**
 * A data source (not initialised) on the test database whose migrations are those up to and
 * including `last` (a migration's timestamp): the database as a version of the service before a
 * migration under test left it, once `runPendingMigrations` has run.
 */
export function dataSourceUpTo(db: TestDatabase, last: number): DataSource {
  const migrations = readdirSync(MIGRATIONS_DIR)
    .filter((name) => /^\d+-.*\.ts$/.test(name) && Number(name.split('-')[0]) <= last)
    .map((name) => join(MIGRATIONS_DIR, name));
  return new DataSource({ ...buildDataSourceOptions(validateEnv(db.env)), migrations });
}

/** What `describeMigration` gives the tests of a migration, on one backend. */
export interface MigrationTest {
  /** The backend's database, empty when the file starts (set from `beforeAll` on). */
  readonly db: TestDatabase;
  /**
   * Runs the migrations before the one under test (those not run yet), then `work` on the
   * database as the service before it left it; the connection is closed after.
   */
  before<T>(work: (before: DataSource) => Promise<T>): Promise<T>;
  /** Runs the migration under test (and any before it not run yet), then `work` on the result. */
  after<T>(work: (after: DataSource) => Promise<T>): Promise<T>;
  /** `work` on a connection to the database as it is, no migration run. */
  connected<T>(work: (source: DataSource) => Promise<T>): Promise<T>;
}

async function using<T>(
  source: DataSource,
  migrate: boolean,
  work: (source: DataSource) => Promise<T>,
): Promise<T> {
  await source.initialize();
  try {
    if (migrate) await runPendingMigrations(source);
    return await work(source);
  } finally {
    await source.destroy();
  }
}

/**
 * The tests of migration `migration` (its timestamp), once per available backend (PGlite, and
 * PostgreSQL when TEST_DATABASE_URL is set), each on a new empty database dropped at the end. The
 * hooks `tests` adds run before the database is dropped.
 */
export function describeMigration(migration: number, tests: (test: MigrationTest) => void): void {
  // Each test runs the migrations before the one under test from an empty database, then that
  // one: some 30 migrations, twice, which on PGlite took over the usual 60 s of a test under a
  // load average of 20 (two files failed so). That is set-up's work: it gets set-up's room.
  jest.setTimeout(MIGRATION_TEST_TIMEOUT_MS);
  describe.each(AVAILABLE_BACKENDS)(`Migration ${migration} on %s`, (backend) => {
    let database: TestDatabase | undefined;
    const db = (): TestDatabase => {
      if (!database) throw new Error('The migration test database exists from beforeAll on');
      return database;
    };

    beforeAll(async () => {
      database = await createTestDatabase(backend, { schema: 'empty' });
    });
    tests({
      get db() {
        return db();
      },
      before: (work) => using(dataSourceUpTo(db(), migration - 1), true, work),
      after: (work) => using(dataSourceUpTo(db(), migration), true, work),
      connected: (work) => using(dataSourceUpTo(db(), 0), false, work),
    });
    // Declared after the tests' own: jest-circus runs afterAll hooks in the order declared.
    afterAll(() => database?.drop());
  });
}
