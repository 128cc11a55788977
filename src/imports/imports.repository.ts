import { Injectable } from '@nestjs/common';
import { Between, DataSource, MoreThan, type EntityManager } from 'typeorm';
import type { Principal } from '../auth/principal';
import type { CursorPosition } from '../common/pagination/cursor';
import { BulkImportRow, ImportRowStatus } from './entities/bulk-import-row.entity';
import { BulkImport, ImportState, type ImportFormat } from './entities/bulk-import.entity';
import type { NewImportRow } from './import-row';

/** A run of pending rows one job works: row numbers `first` to `last`. */
export interface RowChunk {
  first: number;
  last: number;
}

/** Rows of each status. */
export type StatusCounts = Record<ImportRowStatus, number>;

/** A row claimed by a job: the id its image is to have, or has if an earlier attempt made it. */
export interface RowClaim {
  imageId: string;
  /** An earlier attempt made the image `imageId` (and died before marking the row ok). */
  made: boolean;
}

/**
 * One attempt of one job, which a claim names (`<job id>/<attempt>`): pg-boss retries a job under
 * its id, so the id alone cannot tell a retry from the attempt before it, which may only have been
 * frozen (a paused VM, a stalled link) and wake up to work the same rows.
 */
export interface JobAttempt {
  jobId: string;
  attempt: number;
}

/** How a claim names its holder in `claimed_by`. */
export const claimHolder = ({ jobId, attempt }: JobAttempt): string => `${jobId}/${attempt}`;

/** Thrown where the claim on a row was lost: a later attempt, or another job, holds it now. */
export class RowClaimLostError extends Error {
  constructor() {
    super('Another job, or a later attempt of this one, holds the row now');
    this.name = 'RowClaimLostError';
  }
}

/**
 * `claimed_by` names an attempt of job $jobId (parameter `n`) earlier than $attempt (`n + 1`), or
 * the job alone, as versions before attempts were named wrote it.
 */
const EARLIER_ATTEMPT_OF = (n: number) =>
  `(split_part(claimed_by, '/', 1) = $${n}
    AND coalesce(nullif(split_part(claimed_by, '/', 2), ''), '-1')::int < $${n + 1})`;

/** Rows refused on arrival: running them again would refuse them again. */
export const INVALID_ROW_CODE = 'invalid_import_row';

/** Imports past their retention: the last row done more than `$1` days ago. */
const FINISHED_MORE_THAN_DAYS_AGO = 'finished_at < now() - make_interval(days => $1)';
/** Imports whose body never finished arriving: still receiving `$1` hours after they were made. */
const RECEIVING_MORE_THAN_HOURS =
  "state = 'receiving' AND created_at < now() - make_interval(hours => $1)";

/** Imports one statement of the sweeps deletes, their rows gone already. */
const FINISHED_DELETED_AT_ONCE = 100;
/** Rows of the imports the sweeps delete, at most this many a statement. */
const ROWS_DELETED_AT_ONCE = 10_000;

/** The columns of a new row, as jsonb_to_recordset reads a batch of them. */
const NEW_ROW_COLUMNS =
  'row_number integer, line_number integer, status varchar, product_id uuid, gtin varchar, external_id varchar, ' +
  'url varchar, title varchar, alt_text varchar, is_primary boolean, priority integer, ' +
  'problem_code varchar, problem_message varchar';
const NEW_ROW_NAMES = NEW_ROW_COLUMNS.split(', ').map((column) => column.split(' ')[0]);

/** The counts of an import without rows. */
const noRows = (): StatusCounts => ({ pending: 0, ok: 0, failed: 0 });

/** `imports` and `import_rows`: every query imports/ makes. */
@Injectable()
export class ImportsRepository {
  constructor(private readonly dataSource: DataSource) {}

  async create(principal: Principal, format: ImportFormat): Promise<BulkImport> {
    const imports = this.dataSource.getRepository(BulkImport);
    return imports.save(
      imports.create({ organizationId: principal.organizationId, principal, format }),
    );
  }

  /** An import of the organisation, or null. */
  findScoped(organizationId: string, id: string): Promise<BulkImport | null> {
    return this.dataSource.getRepository(BulkImport).findOneBy({ id, organizationId });
  }

  /** Up to `take` of the organisation's imports, newest first, after `after` (a keyset). */
  listScoped(
    organizationId: string,
    { after, take }: { after?: CursorPosition; take: number },
  ): Promise<BulkImport[]> {
    const query = this.dataSource
      .getRepository(BulkImport)
      .createQueryBuilder('i')
      .where('i.organization_id = :organizationId', { organizationId })
      .orderBy('i.created_at', 'DESC')
      .addOrderBy('i.id', 'DESC')
      .take(take);
    if (after) {
      query.andWhere('(i.created_at, i.id) < (:createdAt, :id)', after);
    }
    return query.getMany();
  }

  findById(id: string): Promise<BulkImport | null> {
    return this.dataSource.getRepository(BulkImport).findOneBy({ id });
  }

  async delete(id: string): Promise<void> {
    await this.dataSource.getRepository(BulkImport).delete({ id });
  }

  /** A batch of rows as they arrived, in one statement. */
  async insertRows(importId: string, rows: NewImportRow[]): Promise<void> {
    const names = NEW_ROW_NAMES.map((name) => `"${name}"`).join(', ');
    await this.dataSource.query(
      `INSERT INTO import_rows (import_id, ${names})
       SELECT $1, ${names} FROM jsonb_to_recordset($2::jsonb) AS r(${NEW_ROW_COLUMNS})`,
      [importId, JSON.stringify(rows)],
    );
  }

  /** Every row is stored: the import's total is final, and its pending rows may be worked. */
  async markProcessing(manager: EntityManager, id: string, totalRows: number): Promise<void> {
    await manager.update(BulkImport, { id }, { state: ImportState.Processing, totalRows });
  }

  /** Locks the import's row in `manager`'s transaction: a retry or a cancel of it waits. */
  async lock(manager: EntityManager, id: string): Promise<void> {
    await manager.query('SELECT 1 FROM imports WHERE id = $1 FOR UPDATE', [id]);
  }

  /**
   * Locks the import for a retry: false when it is past its retention (`days`, 0 for none). The
   * hourly sweep deletes such an import's rows a statement at a time, then the import: reopened
   * meanwhile, it would stay for good with the rows not yet deleted and without the others. The
   * sweep's statements share-lock the imports they delete from, so the two wait for each other.
   */
  async lockForRetry(manager: EntityManager, id: string, days: number): Promise<boolean> {
    const rows: { expired: boolean }[] = await manager.query(
      `SELECT ($2 > 0 AND finished_at < now() - make_interval(days => $2)) IS TRUE AS expired
         FROM imports WHERE id = $1 FOR UPDATE`,
      [id, days],
    );
    return rows.length === 1 && !rows[0].expired;
  }

  /**
   * Failed rows back to pending for a re-run (those refused on arrival stay failed), the import
   * unfinished again and worked as `principal` from now on. Rows already ok are left alone; a
   * failed row keeps the image id of its last claim, so that an image made by an attempt whose
   * row update was lost is found rather than made twice. Their `updated_at` is the transaction's
   * `now()`, which {@link chunks} reads to queue these rows only, and their `retry_round` the
   * round returned (the jobs queued for them name it: see {@link failLeftPending}). With no row to
   * run again, the import is left as it is: its `finished_at`, from which its retention counts,
   * stays.
   */
  async reopenFailed(manager: EntityManager, id: string, principal: Principal): Promise<number> {
    const [{ reopened, round }]: { reopened: number; round: number }[] = await manager.query(
      `WITH next AS (
         SELECT coalesce(max(retry_round), 0) + 1 AS round FROM import_rows WHERE import_id = $1),
       reopened AS (
         UPDATE import_rows SET status = 'pending', problem_code = NULL, problem_message = NULL,
                claimed_by = NULL, claimed_until = NULL, updated_at = now(),
                retry_round = (SELECT round FROM next)
          WHERE import_id = $1 AND status = 'failed' AND problem_code <> $2
         RETURNING 1)
       SELECT count(*)::int AS reopened, (SELECT round FROM next) AS round FROM reopened`,
      [id, INVALID_ROW_CODE],
    );
    if (reopened > 0) await manager.update(BulkImport, { id }, { principal, finishedAt: null });
    return round;
  }

  /**
   * The pending rows no job holds, in runs of at most `size` (by position): what to queue, one
   * job a run. Small objects only, however many rows: 10,000 of them for 100,000 rows.
   * `reopenedOnly`: only the rows {@link reopenFailed} put back in this transaction (a retry while
   * the import runs leaves the rows already queued to their jobs rather than queueing them twice).
   */
  chunks(
    manager: EntityManager,
    id: string,
    size: number,
    { reopenedOnly = false } = {},
  ): Promise<RowChunk[]> {
    return manager.query(
      `SELECT min(row_number) AS first, max(row_number) AS last
         FROM (SELECT row_number, (row_number() OVER (ORDER BY row_number) - 1) / $2 AS chunk
                 FROM import_rows
                WHERE import_id = $1 AND status = 'pending'
                  AND (claimed_until IS NULL OR claimed_until < now())
                  AND (NOT $3 OR updated_at = now()::timestamptz(3))) pending
        GROUP BY chunk ORDER BY first`,
      [id, size, reopenedOnly],
    );
  }

  async counts(id: string): Promise<StatusCounts> {
    return (await this.countsOf([id])).get(id) ?? noRows();
  }

  /**
   * The rows of each status of every import of `ids`, in one statement (a page of imports is
   * not a query an import): every one of `ids`, all 0 for an import without rows.
   */
  async countsOf(ids: string[]): Promise<Map<string, StatusCounts>> {
    const rows: { import_id: string; status: ImportRowStatus; n: number }[] =
      await this.dataSource.query(
        `SELECT import_id, status, count(*)::int AS n FROM import_rows
          WHERE import_id = ANY($1::uuid[]) GROUP BY import_id, status`,
        [ids],
      );
    const counts = new Map(ids.map((id) => [id, noRows()]));
    for (const { import_id: id, status, n } of rows) {
      const of = counts.get(id);
      if (of) of[status] = n;
    }
    return counts;
  }

  /** Rows in order, after row `after`, of one status or all. */
  page(
    id: string,
    options: { status?: ImportRowStatus; after: number; take: number },
  ): Promise<BulkImportRow[]> {
    return this.dataSource.getRepository(BulkImportRow).find({
      where: {
        importId: id,
        ...(options.status ? { status: options.status } : {}),
        rowNumber: MoreThan(options.after),
      },
      order: { rowNumber: 'ASC' },
      take: options.take,
    });
  }

  /** The pending rows of a run, in order. */
  pendingRows(id: string, chunk: RowChunk): Promise<BulkImportRow[]> {
    return this.dataSource.getRepository(BulkImportRow).find({
      where: {
        importId: id,
        status: ImportRowStatus.Pending,
        rowNumber: Between(chunk.first, chunk.last),
      },
      order: { rowNumber: 'ASC' },
    });
  }

  /**
   * Takes a pending row for attempt `holder` until `leaseSeconds` from now, unless another job
   * holds it: a later attempt of the same job (a retry after its process died or froze) takes it
   * from an earlier one at once, and the earlier one can then neither take it back nor record it.
   * The row gets a new image id, unless an image with its id exists (made before row and image
   * were recorded together): that id is kept, so the image is found rather than made again.
   * `round` is the retry that queued the job (see {@link failLeftPending}): only rows of that
   * round are its. A row a later retry put back (after a cancel, say, while the job still ran) is
   * that retry's job's; a row of an earlier round inside a retry's run (between two retried rows)
   * is still queued to its own job.
   * Undefined for a job queued before rows had rounds.
   */
  async claim(
    id: string,
    rowNumber: number,
    holder: JobAttempt,
    leaseSeconds: number,
    round?: number,
  ): Promise<RowClaim | null> {
    // A statement that ends in SELECT, so that both drivers answer with its rows alone.
    const rows: { image_id: string; made: boolean }[] = await this.dataSource.query(
      `WITH before AS (SELECT image_id FROM import_rows WHERE import_id = $1 AND row_number = $2),
            claimed AS (
              UPDATE import_rows r
                 SET image_id = CASE WHEN EXISTS (SELECT 1 FROM images i WHERE i.id = r.image_id)
                                     THEN r.image_id ELSE gen_random_uuid() END,
                     claimed_by = $3,
                     claimed_until = now() + make_interval(secs => $4), updated_at = now()
               WHERE import_id = $1 AND row_number = $2 AND status = 'pending'
                 AND (claimed_by IS NULL OR claimed_by = $3 OR claimed_until < now()
                      OR ${EARLIER_ATTEMPT_OF(5)})
                 AND ($7::int IS NULL OR r.retry_round = $7)
              RETURNING image_id)
       SELECT claimed.image_id, claimed.image_id IS NOT DISTINCT FROM before.image_id AS made
         FROM claimed, before`,
      [
        id,
        rowNumber,
        claimHolder(holder),
        leaseSeconds,
        holder.jobId,
        holder.attempt,
        round ?? null,
      ],
    );
    const row = rows[0];
    return row ? { imageId: row.image_id, made: row.made } : null;
  }

  /**
   * The row made image `imageId`, recorded in the transaction that adds the image (`manager`), so
   * that the image and the row's `ok` commit together or not at all. Throws RowClaimLostError,
   * undoing that transaction, when `holder` no longer holds the row.
   */
  async succeed(
    row: { importId: string; rowNumber: number },
    holder: JobAttempt,
    imageId: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<void> {
    const updated: unknown[] = await manager.query(
      `WITH succeeded AS (
         UPDATE import_rows SET status = 'ok', image_id = $4, claimed_by = NULL,
                claimed_until = NULL, problem_code = NULL, problem_message = NULL,
                updated_at = now()
          WHERE import_id = $1 AND row_number = $2 AND status = 'pending' AND claimed_by = $3
         RETURNING 1)
       SELECT 1 FROM succeeded`,
      [row.importId, row.rowNumber, claimHolder(holder), imageId],
    );
    if (updated.length === 0) throw new RowClaimLostError();
  }

  /** The row failed, if `holder` still holds it; whether it did. */
  async fail(
    row: { importId: string; rowNumber: number },
    holder: JobAttempt,
    problem: { code: string; message: string },
  ): Promise<boolean> {
    const updated: unknown[] = await this.dataSource.query(
      `WITH failed AS (
         UPDATE import_rows SET status = 'failed', claimed_by = NULL, claimed_until = NULL,
                problem_code = $4, problem_message = $5, updated_at = now()
          WHERE import_id = $1 AND row_number = $2 AND status = 'pending' AND claimed_by = $3
         RETURNING 1)
       SELECT 1 FROM failed`,
      [row.importId, row.rowNumber, claimHolder(holder), problem.code, problem.message],
    );
    return updated.length > 0;
  }

  /** Whether a row of `chunk` (of its `round`, when it names one) is still pending. */
  async anyPendingIn(id: string, chunk: RowChunk & { round?: number }): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `SELECT 1 FROM import_rows
        WHERE import_id = $1 AND row_number BETWEEN $2 AND $3 AND status = 'pending'
          AND ($4::int IS NULL OR retry_round = $4)
        LIMIT 1`,
      [id, chunk.first, chunk.last, chunk.round ?? null],
    );
    return rows.length > 0;
  }

  /**
   * Every row still pending fails with `problem`, those an attempt holds right now included: that
   * attempt can then record nothing (its image is undone, as when a retry takes a row over).
   * Rows already done are left as they are.
   */
  async failAllPending(
    manager: EntityManager,
    id: string,
    problem: { code: string; message: string },
  ): Promise<void> {
    await manager.query(
      `UPDATE import_rows SET status = 'failed', claimed_by = NULL, claimed_until = NULL,
              problem_code = $2, problem_message = $3, updated_at = now()
        WHERE import_id = $1 AND status = 'pending'`,
      [id, problem.code, problem.message],
    );
  }

  /**
   * The rows of `chunk` still pending once its job `jobId` failed for good (its process died
   * during its last attempt, so no attempt of its own recorded them): failed with `code`. Rows
   * another job holds now, or of another `round` than the job's (a later retry's, or an earlier
   * one's inside a retry's run: queued to jobs of their own), are left to them; those any attempt of this one held are
   * failed. `round` is undefined for a job queued before rows had rounds.
   */
  async failLeftPending(
    id: string,
    chunk: RowChunk & { round?: number },
    jobId: string,
    problem: { code: string; message: string },
  ): Promise<void> {
    await this.dataSource.query(
      `UPDATE import_rows SET status = 'failed', claimed_by = NULL, claimed_until = NULL,
              problem_code = $5, problem_message = $6, updated_at = now()
        WHERE import_id = $1 AND row_number BETWEEN $2 AND $3 AND status = 'pending'
          AND (claimed_by IS NULL OR claimed_by = $4 OR claimed_until < now()
               OR split_part(claimed_by, '/', 1) = $4)
          AND ($7::int IS NULL OR retry_round = $7 OR split_part(claimed_by, '/', 1) = $4)`,
      [id, chunk.first, chunk.last, jobId, problem.code, problem.message, chunk.round ?? null],
    );
  }

  /**
   * Ends a processing import that nothing will ever finish: its rows still pending fail with
   * `problem` and it is finished now, unless `jobsLeft` (read in this transaction, the import
   * locked) says a job may still work them. The lock waits for a retry that reopens rows (it
   * queues their jobs in the transaction that holds it), and the import's own jobs are queued in
   * the transaction that made it processing: once locked, every pending row's job is visible.
   * Returns whether it was ended with rows still pending (those now failed): what its callers count
   * as ended. One found with none pending is finished all the same, and false.
   *
   * `jobsSeen`, when given, is read once first without the lock, nothing else: a job seen then may
   * still work the rows, so the import is left as it is. A processing import nearly always has
   * one, and a client polling it fast then neither waits for the worker's lock of the import
   * (finishIfDone after each job, a retry queueing its rows) nor holds it up with a lock of its
   * own. It may miss jobs that `jobsLeft` finds (it is the cheaper read), not the other way round.
   * Without it, the caller made that read already (for many imports at once) and saw none.
   */
  async closeStalled(
    id: string,
    problem: { code: string; message: string },
    jobsLeft: (manager: EntityManager) => Promise<boolean>,
    jobsSeen?: (manager: EntityManager) => Promise<boolean>,
  ): Promise<boolean> {
    if (jobsSeen && (await jobsSeen(this.dataSource.manager))) return false;
    return this.dataSource.transaction(async (manager) => {
      const locked: unknown[] = await manager.query(
        `SELECT 1 FROM imports WHERE id = $1 AND state = 'processing' AND finished_at IS NULL
            FOR UPDATE`,
        [id],
      );
      if (locked.length === 0 || (await jobsLeft(manager))) return false;
      const [{ failed }]: { failed: number }[] = await manager.query(
        `WITH failed AS (
           UPDATE import_rows SET status = 'failed', claimed_by = NULL, claimed_until = NULL,
                  problem_code = $2, problem_message = $3, updated_at = now()
            WHERE import_id = $1 AND status = 'pending'
           RETURNING 1)
         SELECT count(*)::int AS failed FROM failed`,
        [id, problem.code, problem.message],
      );
      await manager.query(
        `UPDATE imports SET finished_at = now(), updated_at = now() WHERE id = $1`,
        [id],
      );
      return failed > 0;
    });
  }

  /** Processing imports with rows pending: those {@link closeStalled} may have to end. */
  async unfinished(): Promise<string[]> {
    const rows: { id: string }[] = await this.dataSource.query(
      `SELECT id FROM imports WHERE state = 'processing' AND finished_at IS NULL`,
    );
    return rows.map((row) => row.id);
  }

  /**
   * Records when the last pending row was done, once; returns when that was (null while rows
   * are pending). The import's row is locked first, in a statement of its own, and its rows
   * looked at after: a retry reopening failed rows holds that lock until it commits, and a check
   * made in the statement that waited for it read the rows as they were before (READ COMMITTED
   * takes a statement's snapshot when it starts), so the import was recorded finished while the
   * retry's rows were pending again, and its retention counted from then.
   */
  finishIfDone(id: string): Promise<Date | null> {
    return this.dataSource.transaction(async (manager) => {
      const [locked]: { finished_at: Date | null }[] = await manager.query(
        `SELECT finished_at FROM imports WHERE id = $1 AND state = 'processing' FOR UPDATE`,
        [id],
      );
      if (!locked || locked.finished_at) return locked?.finished_at ?? null;
      // A SELECT around the UPDATE: TypeORM answers an UPDATE's rows as [rows, count].
      const [finished]: { finished_at: Date }[] = await manager.query(
        `WITH finished AS (
           UPDATE imports SET finished_at = now(), updated_at = now()
            WHERE id = $1
              AND NOT EXISTS (SELECT 1 FROM import_rows WHERE import_id = $1 AND status = 'pending')
            RETURNING finished_at)
         SELECT finished_at FROM finished`,
        [id],
      );
      return finished?.finished_at ?? null;
    });
  }

  /**
   * Imports whose last row was done more than `days` ago: deleted with their rows, `rowsAtOnce`
   * rows a statement (see {@link deleteImportsWhere}). Each statement share-locks the imports it
   * deletes from: a retry (lockForRetry) waits for it, then refuses. Returns how many imports went.
   */
  deleteFinished(days: number, rowsAtOnce = ROWS_DELETED_AT_ONCE): Promise<number> {
    return this.deleteImportsWhere(FINISHED_MORE_THAN_DAYS_AGO, days, rowsAtOnce);
  }

  /**
   * Imports whose body never finished arriving (their process died meanwhile), made more than
   * `hours` ago: deleted with their rows as {@link deleteFinished} deletes, a bounded number a
   * statement. Such an import may hold nearly BULK_IMPORT_MAX_ROWS rows (a crash near the end of
   * a large CSV): a few of them by the foreign key's cascade, in one statement, could outlast
   * DATABASE_STATEMENT_TIMEOUT_MS every hour, and the rows would stay for good.
   */
  deleteAbandoned(hours: number, rowsAtOnce = ROWS_DELETED_AT_ONCE): Promise<number> {
    return this.deleteImportsWhere(RECEIVING_MORE_THAN_HOURS, hours, rowsAtOnce);
  }

  /**
   * The imports `doomed` (SQL over `imports`, its one parameter `$1` = `value`) selects, deleted
   * with their rows. Their rows go first, at most `rowsAtOnce` a statement, then the imports, a
   * hundred a statement: no one statement deletes millions of rows (a hundred imports of 100,000
   * rows each, by the foreign key's cascade, was ten million), which would hold its locks that
   * long and could outlast DATABASE_STATEMENT_TIMEOUT_MS, failing the sweep every hour. Each
   * statement share-locks the imports it deletes from. Returns how many imports went.
   */
  private async deleteImportsWhere(
    doomed: string,
    value: number,
    rowsAtOnce: number,
  ): Promise<number> {
    for (;;) {
      const [{ deleted }]: { deleted: number }[] = await this.dataSource.query(
        `WITH doomed AS (
           SELECT r.import_id, r.row_number FROM import_rows r
            WHERE r.import_id IN (SELECT id FROM imports WHERE ${doomed} FOR SHARE)
            LIMIT $2),
         gone AS (
           DELETE FROM import_rows r USING doomed d
            WHERE r.import_id = d.import_id AND r.row_number = d.row_number
           RETURNING 1)
         SELECT count(*)::int AS deleted FROM gone`,
        [value, rowsAtOnce],
      );
      if (deleted < rowsAtOnce) break;
    }
    let total = 0;
    for (;;) {
      const [{ deleted }]: { deleted: number }[] = await this.dataSource.query(
        `WITH gone AS (
           DELETE FROM imports WHERE id IN (
             SELECT id FROM imports WHERE ${doomed} LIMIT ${FINISHED_DELETED_AT_ONCE})
           RETURNING 1)
         SELECT count(*)::int AS deleted FROM gone`,
        [value],
      );
      total += deleted;
      if (deleted < FINISHED_DELETED_AT_ONCE) return total;
    }
  }
}
