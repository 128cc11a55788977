import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { validateEnv } from '../../src/config/env.validation';
import { buildDataSourceOptions } from '../../src/database/data-source.options';
import { runPendingMigrations } from '../../src/database/run-migrations';
import {
  AVAILABLE_BACKENDS,
  createTestDatabase,
  type TestDatabase,
} from '../support/test-database';

async function tables(ds: DataSource): Promise<string[]> {
  const rows: { table_name: string }[] = await ds.query(
    `SELECT table_name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  return rows.map((r) => r.table_name);
}

describe.each(AVAILABLE_BACKENDS)('Migrations on %s', (backend) => {
  let db: TestDatabase;
  let ds: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase(backend, { schema: 'empty' });
    ds = await new DataSource(buildDataSourceOptions(validateEnv(db.env))).initialize();
  });
  afterAll(async () => {
    if (ds?.isInitialized) await ds.destroy();
    await db.drop();
  });

  it('apply from empty, leaving a schema identical to the entities', async () => {
    const applied = await runPendingMigrations(ds);
    expect(applied.length).toBe(ds.migrations.length);
    expect(applied.length).toBeGreaterThan(0);
    expect(await tables(ds)).toEqual(
      expect.arrayContaining(['migrations', 'organizations', 'users', 'api_keys']),
    );
    // What `npm run migration:generate` would write: nothing.
    const diff = await ds.driver.createSchemaBuilder().log();
    expect(diff.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('are idempotent: a second run applies nothing', async () => {
    expect(await runPendingMigrations(ds)).toEqual([]);
  });

  it('serialise when several instances start at once', async () => {
    const results = await Promise.all([runPendingMigrations(ds), runPendingMigrations(ds)]);
    expect(results.flat()).toEqual([]);
  });

  it('revert cleanly, one by one, back to an empty schema', async () => {
    for (let i = 0; i < ds.migrations.length; i++)
      await ds.undoLastMigration({ transaction: 'each' });
    expect(await tables(ds)).toEqual(['migrations']);
    expect(await ds.query('SELECT count(*)::int AS n FROM migrations')).toEqual([{ n: 0 }]);
  });

  it('re-apply after a full revert', async () => {
    const applied = await runPendingMigrations(ds);
    expect(applied.length).toBe(ds.migrations.length);
  });
});

describe.each(AVAILABLE_BACKENDS)('MIGRATIONS_RUN=false on %s', (backend) => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase(backend, { schema: 'empty' });
  });
  afterAll(() => db?.drop());

  it('stops the start on a database missing migrations, saying what to do; starts once applied', async () => {
    // Nothing applied (not even a migrations table): refused before anything listens. It said
    // it was listening, then died on its first query (`relation "users" does not exist`).
    const off = { ...db.env, MIGRATIONS_RUN: 'false' };
    await expect(createApp({ env: off })).rejects.toThrow(
      /^MIGRATIONS_RUN=false, but \d+ migration\(s\) of this version are not applied to the database \(the newest: \w+\): apply them with `npm run migration:run`, or start with MIGRATIONS_RUN=true\.$/,
    );
    // Nothing was made, and nothing holds the database: a start that migrates has it, and then
    // one with MIGRATIONS_RUN=false starts.
    await (await createApp({ env: db.env })).close();
    await (await createApp({ env: off })).close();
  });
});
