import { createApp } from '../../src/app.factory';
import { runPendingMigrations } from '../../src/database/run-migrations';
import { call, login } from '../support/http';
import { dataSourceUpTo } from '../support/migrations';
import { TEST_ADMIN, testAppEnv } from '../support/test-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/** The version before NeverRepeatingVersions1797800000000: each product counted its own. */
const BEFORE = 1797700000000;

describe('Upgrading across migrations 1797800000000 and 1798000000000 (never-repeating versions)', () => {
  let db: TestDatabase;
  afterAll(() => db?.drop());

  it('an ETag a client read before the upgrade, of a state since changed, answers 412 after it', async () => {
    db = await createTestDatabase('default', { schema: 'empty' });
    // The database as the earlier version left it: a product a client read at version 2
    // (ETag "p2"), then edited once more by someone else (version 3); its gallery at version 5.
    const before = dataSourceUpTo(db, BEFORE);
    await before.initialize();
    let productId: string;
    try {
      await runPendingMigrations(before);
      const [org] = await before.query<{ id: string }[]>(
        `INSERT INTO organizations (name, slug) VALUES ('Default', 'default') RETURNING id`,
      );
      [{ id: productId }] = await before.query<{ id: string }[]>(
        `INSERT INTO products (organization_id, name, slug, version, gallery_version)
         VALUES ($1, 'Third name', 'third-name', 3, 5) RETURNING id`,
        [org.id],
      );
    } finally {
      await before.destroy();
    }

    // The new version starts on it, applying the rest of the migrations.
    const app = await createApp({ env: testAppEnv(db) });
    try {
      const token = await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
      const read = await call(app, 'GET', `/api/v1/products/${productId}`, { bearer: token });
      expect(read.statusCode).toBe(200);
      // The stale client's edit, guarded by what it read before the third edit: it must not land
      // on a product it never saw ("an ETag held across the upgrade answers 412 once").
      const stale = await call(
        app,
        'PATCH',
        `/api/v1/products/${productId}`,
        { bearer: token },
        { name: 'Stale overwrite' },
        { headers: { 'if-match': '"p2"' } },
      );
      expect(stale.statusCode).toBe(412);
      // Versions 1, 2 and 3 were all handed out before, to states since changed: the new one
      // must be none of them.
      expect(Number(read.json<{ version: string | number }>().version)).toBeGreaterThan(3);
    } finally {
      await app.close();
    }
  });
});
