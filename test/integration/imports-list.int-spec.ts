import type { DataSource } from 'typeorm';
import type { ImportWorker } from '../../src/imports/import-worker.service';
import { ImportsRepository } from '../../src/imports/imports.repository';
import type { ImportsConfig } from '../../src/imports/imports.config';
import { ImportsService } from '../../src/imports/imports.service';
import type { JobQueue } from '../../src/jobs/job-queue.service';
import { contextFor, newOrganization, newProduct } from '../support/factories';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

/**
 * `GET /api/v1/imports`: a page of imports with each one's row counts, read in a fixed number of
 * statements however many imports the page holds (not a statement an import).
 */
describe.each(AVAILABLE_BACKENDS)(`${ImportsService.name} list on %s`, (backend) => {
  let m: IntegrationModule;
  let db: DataSource;
  let service: ImportsService;
  let organizationId: string;
  let productId: string;

  beforeAll(async () => {
    m = await startIntegrationModule(backend, { imports: [], providers: [ImportsRepository] });
    db = m.dataSource;
    organizationId = (await newOrganization(db)).id;
    productId = (await newProduct(db, { organizationId })).id;
    // Listing queues nothing, works no job and reads no setting.
    service = new ImportsService(
      m.get(ImportsRepository),
      {} as JobQueue,
      db,
      {} as ImportWorker,
      {} as ImportsConfig,
    );
  });
  afterAll(() => m?.close());

  /** A completed import of `ok` rows ok and `failed` failed, made `minutesAgo`. */
  async function newImport(ok: number, failed: number, minutesAgo: number): Promise<void> {
    const [{ id }] = await db.query<{ id: string }[]>(
      `INSERT INTO imports (organization_id, principal, format, state, created_at, finished_at)
       VALUES ($1, '{}', 'json', 'processing', now() - make_interval(mins => $2), now())
       RETURNING id`,
      [organizationId, minutesAgo],
    );
    await db.query(
      `INSERT INTO import_rows (import_id, row_number, product_id, url, status)
       SELECT $1, n, $2, 'https://images.example/a.jpg', CASE WHEN n <= $3::int THEN 'ok' ELSE 'failed' END
         FROM generate_series(1, $3::int + $4::int) AS n`,
      [id, productId, ok, failed],
    );
  }

  it('gives each import its own counts, in as many statements for 10 imports as for 2', async () => {
    const ctx = contextFor({ organizationId });
    for (let i = 0; i < 10; i++) await newImport(i, 10 - i, i);
    const statements = jest.spyOn(db.logger, 'logQuery');
    try {
      const small = await service.list(ctx, { limit: 2 });
      const two = statements.mock.calls.length;
      statements.mockClear();
      const large = await service.list(ctx, { limit: 10 });
      expect(statements.mock.calls.length).toBe(two);
      expect(large.items.slice(0, 2)).toEqual(small.items);
      expect(large.items.map((item) => item.counts)).toEqual(
        Array.from({ length: 10 }, (_, i) => ({
          total: 10,
          done: 10,
          ok: i,
          failed: 10 - i,
          pending: 0,
        })),
      );
    } finally {
      statements.mockRestore();
    }
  });
});
