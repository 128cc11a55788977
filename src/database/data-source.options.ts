import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import type { DatabaseConfig } from './database.config';
import { DatabaseClient } from './database-client';
import { serialPGliteDriver } from './serial-pglite.driver';
import { TypeOrmLogger } from './typeorm.logger';

/** Where the embedded database keeps its files, below DATA_DIR. */
export function embeddedDatabaseDir(config: Pick<DatabaseConfig, 'DATA_DIR'>): string {
  return join(resolve(config.DATA_DIR), 'pglite');
}

/**
 * The one DataSource definition, shared by the application (TypeOrmModule) and the migration CLI
 * (`src/database/data-source.ts`). With DATABASE_URL it connects to that PostgreSQL server;
 * without it, it opens embedded PostgreSQL (PGlite) under DATA_DIR. Same entities, same migrations.
 */
export function buildDataSourceOptions(config: DatabaseConfig): DataSourceOptions {
  const common = {
    type: 'postgres' as const,
    synchronize: false,
    migrationsRun: false,
    migrationsTableName: 'migrations',
    // Each in its own transaction, as run-migrations.ts does: the job queue's schema migration
    // brings its own transaction and so must run outside one, which mode 'all' would refuse.
    migrationsTransactionMode: 'each' as const,
    // gen_random_uuid() is built into PostgreSQL 13+ and PGlite; uuid-ossp is not in PGlite.
    uuidExtension: 'pgcrypto' as const,
    // Nothing to install: the schema needs no extension, and managed servers often forbid it.
    installExtensions: false,
    // Globs resolve next to this file: src/ under Jest (ts), dist/src/ once built (js).
    entities: [join(__dirname, '..', '**', '*.entity.{ts,js}')],
    migrations: [join(__dirname, '..', '..', 'migrations', '*.{ts,js}')],
    logger: new TypeOrmLogger(),
    maxQueryExecutionTime: 1000,
  };
  if (config.DATABASE_URL) {
    return {
      ...common,
      url: config.DATABASE_URL,
      ssl: config.DATABASE_SSL ? { rejectUnauthorized: true } : false,
      extra: {
        max: config.DATABASE_POOL_SIZE,
        connectionTimeoutMillis: 10_000,
        // Sent at connection start-up, so it is each session's default (RESET returns to it);
        // node-postgres sends nothing for 0, leaving the server's (none, unless a role sets one).
        statement_timeout: config.DATABASE_STATEMENT_TIMEOUT_MS,
        // TCP keepalive: a connection whose peer vanished (a silenced network, a failed-over host)
        // errors and leaves the pool, instead of hanging the next request for ever.
        keepAlive: true,
        keepAliveInitialDelayMillis: 10_000,
        // Marks its connection errors as the database's (see DatabaseClient).
        Client: DatabaseClient,
      },
      applicationName: 'product-image-service',
    };
  }
  const dataDir = embeddedDatabaseDir(config);
  mkdirSync(dataDir, { recursive: true });
  return {
    ...common,
    driver: serialPGliteDriver({ dataDir }),
  };
}
