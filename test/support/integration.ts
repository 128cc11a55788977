import type { DynamicModule, Provider, Type } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import { AppError } from '../../src/common/errors/app.error';
import { loadAppConfig } from '../../src/config/app-config.module';
import { DatabaseModule } from '../../src/database/database.module';
import { createTestDatabase, type TestDatabase } from './test-database';

/**
 * The integration tier (test/integration/**\/*.int-spec.ts): one Nest module with its real
 * dependencies — the validated configuration, the database, storage — and no HTTP. Its services are
 * called directly, against a migrated copy of the run's template (PostgreSQL when
 * TEST_DATABASE_URL is set, embedded PGlite otherwise): the domain rules in a few milliseconds a
 * test, where the end-to-end tier also pays for routing, validation and serialisation.
 */
export interface IntegrationModule {
  module: TestingModule;
  db: TestDatabase;
  dataSource: DataSource;
  get<T>(token: Type<T> | string | symbol): T;
  close(): Promise<void>;
}

export interface IntegrationOptions {
  /** The module(s) under test; each imports what it needs (storage, say) itself. */
  imports: (Type | DynamicModule)[];
  providers?: Provider[];
  /** Settings beside the test database's (DATA_DIR, DATABASE_URL). */
  env?: Record<string, string>;
}

export async function startIntegrationModule(
  backend: 'postgres' | 'pglite' | 'default',
  options: IntegrationOptions,
): Promise<IntegrationModule> {
  const db = await createTestDatabase(backend);
  try {
    const config = await loadAppConfig({
      env: { NODE_ENV: 'test', LOG_LEVEL: 'silent', ...db.env, ...options.env },
    });
    const module = await Test.createTestingModule({
      imports: [config.module, DatabaseModule, ...options.imports],
      providers: options.providers ?? [],
    }).compile();
    try {
      await module.init();
    } catch (error) {
      await module.close().catch(() => undefined);
      throw error;
    }
    return {
      module,
      db,
      dataSource: module.get(DataSource),
      get: <T>(token: Type<T> | string | symbol) => module.get<T>(token, { strict: false }),
      close: async () => {
        try {
          await module.close();
        } finally {
          await db.drop();
        }
      },
    };
  } catch (error) {
    await db.drop();
    throw error;
  }
}

/** The AppError code a call fails with ('resolved' if it does not fail); other errors rethrown. */
export function errorCode(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (error: unknown) => {
      if (error instanceof AppError) return error.code;
      throw error;
    },
  );
}

/**
 * Settles every promise of a race: an AppError (404, say) is an expected outcome of one; anything
 * else is rethrown.
 */
export async function settle(work: Promise<unknown>[]): Promise<void> {
  for (const r of await Promise.allSettled(work)) {
    if (r.status === 'rejected' && !(r.reason instanceof AppError)) throw r.reason;
  }
}
