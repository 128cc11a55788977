import { Client } from 'pg';
import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';
import { validateEnv } from '../../src/config/env.validation';
import { buildDataSourceOptions } from '../../src/database/data-source.options';
import { isStatementCancelled } from '../../src/database/pg-errors';
import { runPendingMigrations } from '../../src/database/run-migrations';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/** A migration slower than the statement timeout below, as an index on a large table is. */
class SlowMigration1700000000000 implements MigrationInterface {
  name = 'SlowMigration1700000000000';
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('SELECT pg_sleep(0.8)');
    await queryRunner.query('CREATE TABLE slow_migration_ran (id int)');
  }
  async down(): Promise<void> {}
}

/**
 * DATABASE_STATEMENT_TIMEOUT_MS on the service's connections: a statement past it, a lock wait
 * included, is cancelled by the server; migrations are not. Needs a PostgreSQL server (PGlite has
 * one session and no other to hold a lock, and the setting is the server's).
 */
const onServer = process.env.TEST_DATABASE_URL ? describe : describe.skip;

onServer('DATABASE_STATEMENT_TIMEOUT_MS', () => {
  let db: TestDatabase;
  let dataSource: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase('postgres', { schema: 'empty' });
    const config = validateEnv({
      ...db.env,
      DATABASE_STATEMENT_TIMEOUT_MS: '300',
      // One connection: the migrations' session is the one the later statements get.
      DATABASE_POOL_SIZE: '1',
    });
    dataSource = new DataSource({
      ...buildDataSourceOptions(config),
      migrations: [SlowMigration1700000000000],
      logging: false,
    });
    await dataSource.initialize();
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  it('runs a migration longer than the timeout, and gives the connection its timeout back', async () => {
    const ran = await runPendingMigrations(dataSource);
    expect(ran.map((m) => m.name)).toEqual(['SlowMigration1700000000000']);
    expect(await dataSource.query(`SELECT to_regclass('slow_migration_ran') AS t`)).toEqual([
      { t: 'slow_migration_ran' },
    ]);
    expect(await dataSource.query('SHOW statement_timeout')).toEqual([
      { statement_timeout: '300ms' },
    ]);
  });

  it('cancels a statement that waits on a lock past the timeout', async () => {
    const holder = new Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE slow_migration_ran IN ACCESS EXCLUSIVE MODE');
      const error: unknown = await dataSource.query('SELECT count(*) FROM slow_migration_ran').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isStatementCancelled(error)).toBe(true);
      // The lock is still held: the statement was cut, it did not wait for the lock to go.
      const held = await holder.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'slow_migration_ran'::regclass
           AND mode = 'AccessExclusiveLock' AND granted`,
      );
      expect(held.rows).toEqual([{ n: 1 }]);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
    }
    // The connection is fine: the next statement runs.
    expect(await dataSource.query('SELECT count(*)::int AS n FROM slow_migration_ran')).toEqual([
      { n: 0 },
    ]);
  });
});
