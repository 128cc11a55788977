import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { ImportsRepository } from '../../src/imports/imports.repository';
import { authHeaders, call, login, type Credential } from '../support/http';
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

  it('fails a JSON row of 90,000 made-up fields alone, at once, by their number', async () => {
    // 1 MiB of fields no row has: copied to the row's DTO, they held the event loop (and every
    // other request of the process) for many seconds, the time growing with their square.
    const fields = Array.from({ length: 90_000 }, (_, i) => `"f${i}":1`).join(',');
    const body =
      `{"rows":[{"gtin":"4006381333931","url":"https://images.example.com/a.jpg",${fields}},` +
      `{"gtin":"4006381333931","url":"https://images.example.com/b.jpg","colour":"red"}]}`;
    const started = Date.now();
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/imports',
      headers: { ...authHeaders(admin), 'content-type': 'application/json' },
      payload: body,
    });
    const took = Date.now() - started;
    expect(res.statusCode).toBe(202);
    const rows = await call(
      app,
      'GET',
      `/api/v1/imports/${res.json<{ id: string }>().id}/rows`,
      admin,
    );
    expect(rows.json<{ items: unknown[] }>().items).toMatchObject([
      {
        row: 1,
        status: 'failed',
        problem: {
          code: 'invalid_import_row',
          message: expect.stringMatching(/^the row has 90002 fields; its fields are: product_id, /),
        },
      },
      // A few unknown fields are still each named.
      { row: 2, status: 'failed', problem: { message: expect.stringMatching(/colour/) } },
    ]);
    expect(took).toBeLessThan(4000);
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
