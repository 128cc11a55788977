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

/**
 * With MIGRATIONS_RUN=false, refuses to start on a database missing any of this build's
 * migrations, naming them and what to do: the service said it was listening, then died on its
 * first query (`relation "users" does not exist`). Read only (no migrations table is made: a
 * role without DDL rights is a reason to turn MIGRATIONS_RUN off).
 */
export async function refuseIfMigrationsPending(dataSource: DataSource): Promise<void> {
  const table = dataSource.options.migrationsTableName ?? 'migrations';
  const [{ present }] = await dataSource.query<{ present: boolean }[]>(
    'SELECT to_regclass($1) IS NOT NULL AS present',
    [table],
  );
  const applied = present
    ? new Set(
        (await dataSource.query<{ name: string }[]>(`SELECT name FROM "${table}"`)).map(
          (row) => row.name,
        ),
      )
    : new Set<string>();
  const pending = dataSource.migrations
    .map((migration) => migration.name ?? migration.constructor.name)
    .filter((name) => !applied.has(name));
  if (pending.length === 0) return;
  throw new Error(
    `MIGRATIONS_RUN=false, but ${pending.length} migration(s) of this version are not applied ` +
      `to the database (the newest: ${pending.at(-1)}): apply them with \`npm run migration:run\`, ` +
      'or start with MIGRATIONS_RUN=true.',
  );
}
