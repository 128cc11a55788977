import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { validateEnv } from '../../src/config/env.validation';
import { buildDataSourceOptions } from '../../src/database/data-source.options';
import type { TestDatabase } from './test-database';

const MIGRATIONS_DIR = join(__dirname, '..', '..', 'migrations');

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
