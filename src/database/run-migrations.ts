import { type DataSource, MigrationExecutor, type Migration } from 'typeorm';

/** Any constant works; it only has to be the same for every instance of this service. */
const MIGRATION_LOCK_KEY = 727_364_210;

/**
 * Runs pending migrations, each in its own transaction, while holding a session-level advisory
 * lock, so that several instances starting at once apply them exactly once. Everything runs on one
 * query runner (the embedded database has a single session, which a second runner would wait for).
 */
export async function runPendingMigrations(dataSource: DataSource): Promise<Migration[]> {
  const queryRunner = dataSource.createQueryRunner();
  await queryRunner.connect();
  try {
    // Neither the wait for another instance's migrations nor a long migration (an index on a large
    // table) is cut by DATABASE_STATEMENT_TIMEOUT_MS; RESET gives the pool back its connection as
    // it was.
    await queryRunner.query('SET statement_timeout = 0');
    await queryRunner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const executor = new MigrationExecutor(dataSource, queryRunner);
      executor.transaction = 'each';
      return await executor.executePendingMigrations();
    } finally {
      await queryRunner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await queryRunner.query('RESET statement_timeout').catch(() => undefined);
    await queryRunner.release();
  }
}
