import { Injectable } from '@nestjs/common';
import { Between, DataSource, MoreThan, type EntityManager } from 'typeorm';
import type { Principal } from '../auth/principal';
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

/** Rows refused on arrival: running them again would refuse them again. */
export const INVALID_ROW_CODE = 'invalid_import_row';

/** The columns of a new row, as jsonb_to_recordset reads a batch of them. */
const NEW_ROW_COLUMNS =
  'row_number integer, status varchar, product_id uuid, gtin varchar, external_id varchar, ' +
  'url varchar, title varchar, alt_text varchar, is_primary boolean, priority integer, ' +
  'problem_code varchar, problem_message varchar';
const NEW_ROW_NAMES = NEW_ROW_COLUMNS.split(', ').map((column) => column.split(' ')[0]);

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

  /**
   * Failed rows back to pending for a re-run (those refused on arrival stay failed), the import
   * unfinished again and worked as `principal` from now on. Rows already ok are left alone; a
   * failed row keeps the image id of its last claim, so that an image made by an attempt whose
   * row update was lost is found rather than made twice.
   */
  async reopenFailed(manager: EntityManager, id: string, principal: Principal): Promise<void> {
    await manager.query(
      `UPDATE import_rows SET status = 'pending', problem_code = NULL, problem_message = NULL,
              claimed_by = NULL, claimed_until = NULL, updated_at = now()
        WHERE import_id = $1 AND status = 'failed' AND problem_code <> $2`,
      [id, INVALID_ROW_CODE],
    );
    await manager.update(BulkImport, { id }, { principal, finishedAt: null });
  }

  /**
   * The pending rows no job holds, in runs of at most `size` (by position): what to queue, one
   * job a run. Small objects only, however many rows: 10,000 of them for 100,000 rows.
   */
  chunks(manager: EntityManager, id: string, size: number): Promise<RowChunk[]> {
    return manager.query(
      `SELECT min(row_number) AS first, max(row_number) AS last
         FROM (SELECT row_number, (row_number() OVER (ORDER BY row_number) - 1) / $2 AS chunk
                 FROM import_rows
                WHERE import_id = $1 AND status = 'pending'
                  AND (claimed_until IS NULL OR claimed_until < now())) pending
        GROUP BY chunk ORDER BY first`,
      [id, size],
    );
  }

  async counts(id: string): Promise<StatusCounts> {
    const rows: { status: ImportRowStatus; n: number }[] = await this.dataSource.query(
      `SELECT status, count(*)::int AS n FROM import_rows WHERE import_id = $1 GROUP BY status`,
      [id],
    );
    const counts: StatusCounts = { pending: 0, ok: 0, failed: 0 };
    for (const { status, n } of rows) counts[status] = n;
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
   * Takes a pending row for job `jobId` until `leaseSeconds` from now, unless another job holds
   * it: the same job again (a retry after its process died) may take it back at once. The row
   * gets a new image id, unless an image with its id exists (an earlier attempt made it, and died
   * before marking the row ok): that id is kept, however many claims follow, so that however
   * often the retries die, the image made is found rather than made again.
   */
  async claim(
    id: string,
    rowNumber: number,
    jobId: string,
    leaseSeconds: number,
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
                 AND (claimed_by IS NULL OR claimed_by = $3 OR claimed_until < now())
              RETURNING image_id)
       SELECT claimed.image_id, claimed.image_id IS NOT DISTINCT FROM before.image_id AS made
         FROM claimed, before`,
      [id, rowNumber, jobId, leaseSeconds],
    );
    const row = rows[0];
    return row ? { imageId: row.image_id, made: row.made } : null;
  }

  /** The row made image `imageId`. */
  async succeed(id: string, rowNumber: number, imageId: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE import_rows SET status = 'ok', image_id = $3, claimed_by = NULL,
              claimed_until = NULL, problem_code = NULL, problem_message = NULL, updated_at = now()
        WHERE import_id = $1 AND row_number = $2`,
      [id, rowNumber, imageId],
    );
  }

  async fail(id: string, rowNumber: number, code: string, message: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE import_rows SET status = 'failed', claimed_by = NULL, claimed_until = NULL,
              problem_code = $3, problem_message = $4, updated_at = now()
        WHERE import_id = $1 AND row_number = $2`,
      [id, rowNumber, code, message],
    );
  }

  /**
   * The rows of `chunk` still pending once its job `jobId` failed for good (its process died
   * during its last attempt, so no attempt of its own recorded them): failed with `code`. Rows
   * another job holds now (the import retried meanwhile) are that job's.
   */
  async failLeftPending(
    id: string,
    chunk: RowChunk,
    jobId: string,
    problem: { code: string; message: string },
  ): Promise<void> {
    await this.dataSource.query(
      `UPDATE import_rows SET status = 'failed', claimed_by = NULL, claimed_until = NULL,
              problem_code = $5, problem_message = $6, updated_at = now()
        WHERE import_id = $1 AND row_number BETWEEN $2 AND $3 AND status = 'pending'
          AND (claimed_by IS NULL OR claimed_by = $4 OR claimed_until < now())`,
      [id, chunk.first, chunk.last, jobId, problem.code, problem.message],
    );
  }

  /**
   * Records when the last pending row was done, once; returns when that was (null while rows
   * are pending).
   */
  async finishIfDone(id: string): Promise<Date | null> {
    const [row]: { finished_at: Date | null }[] = await this.dataSource.query(
      `WITH finished AS (
         UPDATE imports SET finished_at = now(), updated_at = now()
          WHERE id = $1 AND state = 'processing' AND finished_at IS NULL
            AND NOT EXISTS (SELECT 1 FROM import_rows WHERE import_id = $1 AND status = 'pending')
         RETURNING finished_at
       )
       SELECT finished_at FROM finished
       UNION ALL
       SELECT finished_at FROM imports WHERE id = $1 AND finished_at IS NOT NULL
       LIMIT 1`,
      [id],
    );
    return row?.finished_at ?? null;
  }

  /** Imports whose body never finished arriving (their process died meanwhile): deleted. */
  async deleteAbandoned(olderThanHours: number): Promise<number> {
    const [{ deleted }]: { deleted: number }[] = await this.dataSource.query(
      `WITH gone AS (
         DELETE FROM imports
          WHERE state = 'receiving' AND created_at < now() - make_interval(hours => $1)
         RETURNING 1)
       SELECT count(*)::int AS deleted FROM gone`,
      [olderThanHours],
    );
    return deleted;
  }
}
