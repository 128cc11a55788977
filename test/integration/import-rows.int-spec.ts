import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import type { Principal } from '../../src/auth/principal';
import { ImportsRepository, RowClaimLostError } from '../../src/imports/imports.repository';
import { blockedBackend } from '../support/db-faults';
import { newImage, newOrganization, newProduct } from '../support/factories';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

/** The repository on a database of `backend`, with an organisation and a product of it. */
async function setUp(backend: (typeof AVAILABLE_BACKENDS)[number]) {
  const m = await startIntegrationModule(backend, { imports: [], providers: [ImportsRepository] });
  const db = m.dataSource;
  const organizationId = (await newOrganization(db)).id;
  const productId = (await newProduct(db, { organizationId })).id;
  return { m, db, imports: m.get(ImportsRepository), organizationId, productId };
}

/**
 * A bulk import's row claimed by attempt after attempt of its job, as happens when the processes
 * working it die: the image an attempt made is found by every later claim, never made again.
 */
describe.each(AVAILABLE_BACKENDS)(`${ImportsRepository.name} row claims on %s`, (backend) => {
  let m: IntegrationModule;
  let db: DataSource;
  let imports: ImportsRepository;
  let organizationId: string;
  let productId: string;

  beforeAll(async () => ({ m, db, imports, organizationId, productId } = await setUp(backend)));
  afterAll(() => m?.close());

  /** An import of one pending row. */
  async function pendingRow(): Promise<string> {
    const [{ id }] = await db.query<{ id: string }[]>(
      `INSERT INTO imports (organization_id, principal, format, state)
       VALUES ($1, '{}', 'json', 'processing') RETURNING id`,
      [organizationId],
    );
    await db.query(
      `INSERT INTO import_rows (import_id, row_number, product_id, url)
       VALUES ($1, 1, $2, 'https://images.example/a.jpg')`,
      [id, productId],
    );
    return id;
  }

  const JOB = randomUUID();
  const FIRST = { jobId: JOB, attempt: 0 };
  const claim = (importId: string, holder = FIRST) => imports.claim(importId, 1, holder, 600);
  const row = (importId: string) => ({ importId, rowNumber: 1 });
  const DEAD = { jobId: 'dead-job', attempt: 0 };
  const LIVE = { jobId: 'live-job', attempt: 0 };
  const PROBLEM = { code: 'image_url_unreachable', message: 'The URL did not answer.' };

  it('records when the last row was done and says when, once; nothing while a row is pending', async () => {
    const importId = await pendingRow();
    expect(await imports.finishIfDone(importId)).toBeNull();
    await db.query(`UPDATE import_rows SET status = 'ok' WHERE import_id = $1`, [importId]);
    const finished = await imports.finishIfDone(importId);
    expect(finished).toBeInstanceOf(Date);
    const [{ finished_at }] = await db.query<{ finished_at: Date }[]>(
      'SELECT finished_at FROM imports WHERE id = $1',
      [importId],
    );
    expect(finished).toEqual(finished_at);
    expect(await imports.finishIfDone(importId)).toEqual(finished_at);
  });

  (backend === 'postgres' ? it : it.skip)(
    'says when an import finished, also when another process finished it while it waited',
    async () => {
      const importId = await pendingRow();
      await db.query(
        `UPDATE import_rows SET status = 'failed', problem_code = 'x', problem_message = 'x'
          WHERE import_id = $1`,
        [importId],
      );
      // Another process holds the import's row, finishes it and commits while this one waits.
      const other = new Client({ connectionString: m.db.env.DATABASE_URL });
      await other.connect();
      try {
        await other.query('BEGIN');
        await other.query('SELECT 1 FROM imports WHERE id = $1 FOR UPDATE', [importId]);
        const finishing = imports.finishIfDone(importId);
        await blockedBackend(m.db.env.DATABASE_URL, /^SELECT finished_at FROM imports/);
        await other.query('UPDATE imports SET finished_at = now() WHERE id = $1', [importId]);
        await other.query('COMMIT');
        expect(await finishing).toBeInstanceOf(Date);
      } finally {
        await other.end();
      }
    },
  );

  it('gives each claim a new image id while no attempt has made its image', async () => {
    const importId = await pendingRow();
    const ids = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const claimed = await claim(importId);
      expect(claimed).toMatchObject({ made: false });
      ids.push(claimed?.imageId);
    }
    expect(new Set(ids).size).toBe(3);
  });

  it('keeps the id of an image an attempt made, through any number of claims that die', async () => {
    const importId = await pendingRow();
    const first = await claim(importId);
    // The attempt made its image, then died before marking the row ok.
    await newImage(db, { id: first!.imageId, organizationId, productId });
    // Every later attempt dies too, once it has claimed the row, before looking for the image.
    for (let attempt = 0; attempt < 3; attempt++) {
      expect(await claim(importId)).toEqual({ imageId: first!.imageId, made: true });
    }
  });

  it('fails the rows a job that died for good left pending, not those another job holds now', async () => {
    const importId = await pendingRow();
    await db.query(
      `INSERT INTO import_rows (import_id, row_number, product_id, url)
       VALUES ($1, 2, $2, 'https://images.example/b.jpg'), ($1, 3, $2, 'https://images.example/c.jpg')`,
      [importId, productId],
    );
    await imports.claim(importId, 1, DEAD, 600);
    await imports.claim(importId, 3, LIVE, 600);
    const problem = { code: 'internal_error', message: 'The row could not be processed.' };
    await imports.failLeftPending(importId, { first: 1, last: 3 }, 'dead-job', problem);
    const rows = await db.query<
      { row_number: number; status: string; claimed_by: string | null }[]
    >(
      `SELECT row_number, status, claimed_by FROM import_rows WHERE import_id = $1
        ORDER BY row_number`,
      [importId],
    );
    expect(rows).toEqual([
      { row_number: 1, status: 'failed', claimed_by: null },
      { row_number: 2, status: 'failed', claimed_by: null },
      { row_number: 3, status: 'pending', claimed_by: 'live-job/0' },
    ]);
  });

  it("leaves the rows a retry put back since the dead job was queued to the retry's job", async () => {
    const importId = await pendingRow();
    await db.query(
      `INSERT INTO import_rows (import_id, row_number, product_id, url)
       VALUES ($1, 2, $2, 'https://images.example/b.jpg'), ($1, 3, $2, 'https://images.example/c.jpg')`,
      [importId, productId],
    );
    const problem = { code: 'internal_error', message: 'The row could not be processed.' };
    // The import's job (round 0) failed row 1 on its last attempt, claimed row 2 and died there.
    await imports.claim(importId, 1, DEAD, 600);
    await imports.fail({ importId, rowNumber: 1 }, DEAD, {
      code: 'image_url_unreachable',
      message: 'x',
    });
    await imports.claim(importId, 2, DEAD, 600);
    // A retry puts row 1 back, in round 1, for a job of its own.
    const poster = {
      type: 'user',
      id: randomUUID(),
      organizationId,
      role: 'admin',
      scopes: [],
      userId: null,
    };
    const round = await db.transaction((manager) =>
      imports.reopenFailed(manager, importId, poster as unknown as Principal),
    );
    expect(round).toBe(1);
    // pg-boss fails the dead job for good: its rows 2 (its claim) and 3 (never reached) fail.
    await imports.failLeftPending(importId, { first: 1, last: 3, round: 0 }, 'dead-job', problem);
    const statuses = async () =>
      (
        await db.query<{ status: string }[]>(
          'SELECT status FROM import_rows WHERE import_id = $1 ORDER BY row_number',
          [importId],
        )
      ).map((r) => r.status);
    expect(await statuses()).toEqual(['pending', 'failed', 'failed']);
    // A job queued before rows had rounds fails every row it left, as before.
    await imports.failLeftPending(importId, { first: 1, last: 3 }, 'dead-job', problem);
    expect(await statuses()).toEqual(['failed', 'failed', 'failed']);
    // A second retry is round 2.
    expect(
      await db.transaction((manager) =>
        imports.reopenFailed(manager, importId, poster as unknown as Principal),
      ),
    ).toBe(2);
  });

  it('refuses a row another job holds, and a row that is no longer pending', async () => {
    const importId = await pendingRow();
    expect(await claim(importId)).not.toBeNull();
    expect(await imports.claim(importId, 1, { jobId: 'job-2', attempt: 0 }, 600)).toBeNull();
    await imports.succeed(row(importId), FIRST, randomUUID());
    expect(await claim(importId)).toBeNull();
  });

  it('gives a row to a later attempt of its job at once, and fences the earlier one out', async () => {
    const importId = await pendingRow();
    // Attempt 0 claims the row, then freezes; pg-boss retries the job (same id) as attempt 1.
    const stale = await claim(importId);
    const retry = await claim(importId, { jobId: JOB, attempt: 1 });
    expect(retry).toMatchObject({ made: false });
    expect(retry!.imageId).not.toBe(stale!.imageId);
    // Attempt 0 wakes: it cannot take the row back, fail it, or record its image.
    expect(await claim(importId)).toBeNull();
    expect(await imports.fail(row(importId), FIRST, PROBLEM)).toBe(false);
    await expect(imports.succeed(row(importId), FIRST, stale!.imageId)).rejects.toThrow(
      RowClaimLostError,
    );
    // Nor would its image commit: succeed runs in the transaction that inserts it.
    await expect(
      db.transaction(async (manager) => {
        await newImage(manager, { id: stale!.imageId, organizationId, productId });
        await imports.succeed(row(importId), FIRST, stale!.imageId, manager);
      }),
    ).rejects.toThrow(RowClaimLostError);
    expect(await db.query(`SELECT 1 FROM images WHERE id = $1`, [stale!.imageId])).toEqual([]);
    // The retry records its own.
    await imports.succeed(row(importId), { jobId: JOB, attempt: 1 }, retry!.imageId);
    const [recorded] = await db.query<{ status: string; image_id: string }[]>(
      `SELECT status, image_id FROM import_rows WHERE import_id = $1`,
      [importId],
    );
    expect(recorded).toEqual({ status: 'ok', image_id: retry!.imageId });
  });

  it('queues on retry only the rows it reopened, not those still pending in their jobs', async () => {
    const importId = await pendingRow();
    // Rows 1-10 pending (queued, not yet claimed), 11-20 failed, 21-22 refused on arrival, all
    // written a while ago: the retry tells its rows by their updated_at, to the millisecond, and
    // rows written in the same millisecond as its transaction began would count as its own.
    await db.query(
      `INSERT INTO import_rows (import_id, row_number, product_id, url, status, problem_code)
       SELECT $1, n, $2, 'https://images.example/' || n || '.jpg',
              CASE WHEN n <= 10 THEN 'pending' ELSE 'failed' END,
              CASE WHEN n <= 10 THEN NULL WHEN n <= 20 THEN 'image_url_unreachable'
                   ELSE 'invalid_import_row' END
         FROM generate_series(2, 22) AS n`,
      [importId, productId],
    );
    await db.query(
      `UPDATE import_rows SET updated_at = now() - interval '1 minute' WHERE import_id = $1`,
      [importId],
    );
    await db.transaction(async (manager) => {
      await imports.reopenFailed(manager, importId, { type: 'user' } as never);
      expect(await imports.chunks(manager, importId, 10, { reopenedOnly: true })).toEqual([
        { first: 11, last: 20 },
      ]);
      expect(await imports.chunks(manager, importId, 10)).toEqual([
        { first: 1, last: 10 },
        { first: 11, last: 20 },
      ]);
    });
  });

  it('fails a row only for the attempt that holds it', async () => {
    const importId = await pendingRow();
    await claim(importId);
    expect(await imports.fail(row(importId), { jobId: 'job-2', attempt: 0 }, PROBLEM)).toBe(false);
    expect(await imports.fail(row(importId), FIRST, PROBLEM)).toBe(true);
    expect(await imports.fail(row(importId), FIRST, PROBLEM)).toBe(false);
  });
});

/** The hourly sweep's two deletions: imports never received whole, and completed ones kept long enough. */
describe.each(AVAILABLE_BACKENDS)(`${ImportsRepository.name} sweeps on %s`, (backend) => {
  let m: IntegrationModule;
  let db: DataSource;
  let imports: ImportsRepository;
  let organizationId: string;
  let productId: string;

  beforeAll(async () => ({ m, db, imports, organizationId, productId } = await setUp(backend)));
  afterAll(() => m?.close());

  /** Imports of one row each, made `createdHoursAgo` and finished `finishedDaysAgo` (null: not). */
  async function newImports(
    count: number,
    state: 'receiving' | 'processing',
    { createdHoursAgo = 0, finishedDaysAgo = null as number | null } = {},
  ): Promise<string[]> {
    const made = await db.query<{ id: string }[]>(
      `INSERT INTO imports (organization_id, principal, format, state, created_at, finished_at)
       SELECT $1, '{}', 'csv', $2, now() - make_interval(hours => $3),
              CASE WHEN $4::int IS NULL THEN NULL ELSE now() - make_interval(days => $4::int) END
         FROM generate_series(1, $5) RETURNING id`,
      [organizationId, state, createdHoursAgo, finishedDaysAgo, count],
    );
    const ids = made.map(({ id }) => id);
    await db.query(
      `INSERT INTO import_rows (import_id, row_number, product_id, url, status)
       SELECT id, 1, $2, 'https://images.example/a.jpg',
              CASE WHEN $3 THEN 'ok' ELSE 'pending' END
         FROM unnest($1::uuid[]) AS id`,
      [ids, productId, finishedDaysAgo !== null],
    );
    return ids;
  }

  /** Which of `ids` are still there, imports and rows. */
  async function left(ids: string[]): Promise<{ imports: number; rows: number }> {
    const [counts] = await db.query<{ imports: number; rows: number }[]>(
      `SELECT (SELECT count(*)::int FROM imports WHERE id = ANY($1)) AS imports,
              (SELECT count(*)::int FROM import_rows WHERE import_id = ANY($1)) AS rows`,
      [ids],
    );
    return counts;
  }

  it('deletes completed imports and their rows once their retention is over, and nothing else', async () => {
    const old = await newImports(2, 'processing', {
      createdHoursAgo: 24 * 40,
      finishedDaysAgo: 31,
    });
    const recent = await newImports(1, 'processing', {
      createdHoursAgo: 24 * 40,
      finishedDaysAgo: 29,
    });
    const running = await newImports(1, 'processing', { createdHoursAgo: 24 * 400 });
    const receiving = await newImports(1, 'receiving', { createdHoursAgo: 2 });

    expect(await imports.deleteFinished(30)).toBe(2);
    expect(await left(old)).toEqual({ imports: 0, rows: 0 });
    expect(await left([...recent, ...running, ...receiving])).toEqual({ imports: 3, rows: 3 });
    expect(await imports.deleteFinished(30)).toBe(0);
  });

  it('deletes more completed imports than one statement takes', async () => {
    const old = await newImports(230, 'processing', { finishedDaysAgo: 40 });
    expect(await imports.deleteFinished(35)).toBe(230);
    expect(await left(old)).toEqual({ imports: 0, rows: 0 });
  });

  it('deletes the rows of completed imports a bounded number a statement, then the imports', async () => {
    const [big] = await newImports(1, 'processing', { finishedDaysAgo: 40 });
    const [kept] = await newImports(1, 'processing', { finishedDaysAgo: 2 });
    await db.query(
      `INSERT INTO import_rows (import_id, row_number, status)
       SELECT id, n, 'ok' FROM unnest($1::uuid[]) AS id, generate_series(2, 25) AS n`,
      [[big, kept]],
    );
    expect(await left([big])).toEqual({ imports: 1, rows: 25 });
    // Ten rows a statement: three statements of rows, then the import.
    expect(await imports.deleteFinished(35, 10)).toBe(1);
    expect(await left([big])).toEqual({ imports: 0, rows: 0 });
    expect(await left([kept])).toEqual({ imports: 1, rows: 25 });
  });

  // On a server: the embedded database's one connection is held until the spied query returns.
  (backend === 'postgres' ? it : it.skip)(
    'refuses a retry of an import past its retention, even between two of its statements',
    async () => {
      const [doomed] = await newImports(1, 'processing', { finishedDaysAgo: 40 });
      const [kept] = await newImports(1, 'processing', { finishedDaysAgo: 2 });
      await db.query(
        `INSERT INTO import_rows (import_id, row_number, status, problem_code, problem_message)
       SELECT $1, n, 'failed', 'image_url_unreachable', 'x' FROM generate_series(2, 25) AS n`,
        [doomed],
      );
      const retry = (id: string) =>
        db.transaction(async (manager) => {
          if (!(await imports.lockForRetry(manager, id, 35))) return false;
          await imports.reopenFailed(manager, id, { organizationId } as unknown as Principal);
          return true;
        });
      expect(await retry(kept)).toBe(true);
      expect(await imports.lockForRetry(db.manager, kept, 0)).toBe(true);
      // An admin retries it just after the sweep's first statement of rows: reopened then, it kept
      // 15 of its 25 rows for good (the sweep then took it for unfinished).
      const query = db.query.bind(db);
      let retried: boolean | undefined;
      const spy = jest
        .spyOn(db, 'query')
        .mockImplementation(async (sql: string, params?: unknown[] | object) => {
          const result: unknown = await query(sql, params);
          if (retried === undefined && sql.includes('DELETE FROM import_rows r USING doomed')) {
            retried = await retry(doomed);
          }
          return result;
        });
      try {
        expect(await imports.deleteFinished(35, 10)).toBe(1);
      } finally {
        spy.mockRestore();
      }
      expect(retried).toBe(false);
      expect(await left([doomed])).toEqual({ imports: 0, rows: 0 });
      // No retention (0): never past it.
      const [old] = await newImports(1, 'processing', { finishedDaysAgo: 400 });
      expect(await imports.lockForRetry(db.manager, old, 0)).toBe(true);
    },
  );

  it('deletes imports whose body never finished arriving, after a day', async () => {
    const abandoned = await newImports(2, 'receiving', { createdHoursAgo: 25 });
    const arriving = await newImports(1, 'receiving', { createdHoursAgo: 23 });
    const running = await newImports(1, 'processing', { createdHoursAgo: 25 });

    expect(await imports.deleteAbandoned(24)).toBe(2);
    expect(await left(abandoned)).toEqual({ imports: 0, rows: 0 });
    expect(await left([...arriving, ...running])).toEqual({ imports: 2, rows: 2 });
  });

  it('deletes the rows of imports never received whole a bounded number a statement, then the imports', async () => {
    // A process that died near the end of a large CSV leaves up to BULK_IMPORT_MAX_ROWS rows: a
    // few such imports deleted by the cascade in one statement could outlast the statement
    // timeout every hour, and stay for good.
    const abandoned = await newImports(2, 'receiving', { createdHoursAgo: 25 });
    const [arriving] = await newImports(1, 'receiving', { createdHoursAgo: 1 });
    await db.query(
      `INSERT INTO import_rows (import_id, row_number, status)
       SELECT id, n, 'pending' FROM unnest($1::uuid[]) AS id, generate_series(2, 13) AS n`,
      [[...abandoned, arriving]],
    );
    expect(await left(abandoned)).toEqual({ imports: 2, rows: 26 });
    const query = db.query.bind(db);
    const rowsLeft: number[] = [];
    const spy = jest
      .spyOn(db, 'query')
      .mockImplementation(async (sql: string, params?: unknown[] | object) => {
        const result: unknown = await query(sql, params);
        if (sql.includes('DELETE')) rowsLeft.push((await left(abandoned)).rows);
        return result;
      });
    try {
      // Ten rows a statement: three statements of rows, then the imports.
      expect(await imports.deleteAbandoned(24, 10)).toBe(2);
    } finally {
      spy.mockRestore();
    }
    const deletedEach = rowsLeft.map((rows, i) => (i === 0 ? 26 : rowsLeft[i - 1]) - rows);
    expect(Math.max(...deletedEach)).toBeLessThanOrEqual(10);
    expect(await left(abandoned)).toEqual({ imports: 0, rows: 0 });
    expect(await left([arriving])).toEqual({ imports: 1, rows: 13 });
  });
});
