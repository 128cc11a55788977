import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { ImportsRepository } from '../../src/imports/imports.repository';
import { call, login, type Credential } from '../support/http';
import { startStorageBackend, type StorageBackend } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

const MAX_ROWS = 50;

/**
 * Bulk import bodies refused as a whole: nothing is stored for them, not even for the time the
 * request takes. The app queues jobs without running them (SERVICE_ROLE api).
 */
describe('Bulk imports refused as a whole (POST /api/v1/imports)', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let storage: StorageBackend;
  let admin: Credential;

  beforeAll(async () => {
    storage = await startStorageBackend('local');
    t = await startTestApp({
      ...storage.env,
      SERVICE_ROLE: 'api',
      BULK_IMPORT_MAX_ROWS: String(MAX_ROWS),
    });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await t?.close();
    await storage?.close();
  });

  const countImports = async () =>
    (await app.get(DataSource).query<{ n: number }[]>(`SELECT count(*)::int AS n FROM imports`))[0]
      .n;

  it('refuses JSON with more rows than BULK_IMPORT_MAX_ROWS before storing any (413 import_too_large)', async () => {
    const repository = app.get(ImportsRepository);
    const created = jest.spyOn(repository, 'create');
    const inserted = jest.spyOn(repository, 'insertRows');
    const before = await countImports();
    const row = { gtin: '4006381333931', url: 'https://images.example.com/a.jpg' };
    try {
      const res = await call(app, 'POST', '/api/v1/imports', admin, {
        rows: Array.from({ length: MAX_ROWS * 30 + 1 }, () => row),
      });
      expect(res.statusCode).toBe(413);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ code: 'import_too_large', status: 413 });
      // No import was made, then deleted: none was listed while the request ran, and no rows
      // were written only to be deleted again.
      expect(created).not.toHaveBeenCalled();
      expect(inserted).not.toHaveBeenCalled();
      expect(await countImports()).toBe(before);
    } finally {
      created.mockRestore();
      inserted.mockRestore();
    }
  });

  it('still takes exactly BULK_IMPORT_MAX_ROWS rows of JSON', async () => {
    const row = { gtin: '4006381333931', url: 'https://images.example.com/a.jpg' };
    const res = await call(app, 'POST', '/api/v1/imports', admin, {
      rows: Array.from({ length: MAX_ROWS }, () => row),
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ counts: { total: MAX_ROWS } });
  });
});
