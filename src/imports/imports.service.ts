import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { credentialGoneMeanwhile } from '../auth/challenge';
import type { RequestContext } from '../auth/principal';
import { AppError } from '../common/errors/app.error';
import { encodeShortId } from '../common/ids/short-id';
import { safeError } from '../common/logging/safe-error';
import { cursorJson, decodeCursor, encodeCursor } from '../common/pagination/cursor';
import type { CursorQueryDto } from '../common/pagination/cursor-query.dto';
import { retryOnLostConnection } from '../database/lost-connection-retry';
import { isForeignKeyViolation } from '../database/pg-errors';
import { apartFromTheWork } from '../idempotency/idempotent-attempt';
import { JobQueue } from '../jobs/job-queue.service';
import { JOB_ORGANIZATION_KEY } from '../jobs/jobs.repository';
import {
  ImportProgressState,
  type ImportDto,
  type ImportPageDto,
  type ImportRowDto,
  type ImportRowPageDto,
  type ImportRowsQueryDto,
} from './dto/import.dto';
import { ImportRowStatus, type BulkImportRow } from './entities/bulk-import-row.entity';
import { ImportState, type BulkImport } from './entities/bulk-import.entity';
import { importTooLarge, type ImportSource } from './import-body.pipe';
import { importRow, type NewImportRow } from './import-row';
import {
  IMPORT_ROWS_QUEUE,
  ImportWorker,
  ROWS_PER_JOB,
  type ImportRowsJob,
} from './import-worker.service';
import { IMPORTS_CONFIG, type ImportsConfig } from './imports.config';
import { ImportsRepository, type StatusCounts } from './imports.repository';

/** Rows written to the database in one statement while a body arrives. */
const INSERT_BATCH = 1000;
/** Jobs queued in one statement. */
const SEND_BATCH = 1000;
export const IMPORTS_PATH = '/api/v1/imports';
/** The problem of each row a cancel stopped. */
const CANCELLED = {
  code: 'import_cancelled',
  message: 'The import was cancelled before this row was done. Retry the import to run it.',
};

/**
 * Bulk imports: receiving their rows, queueing them, and reporting on them. Rows are stored in
 * batches as they arrive (never all in memory), each checked on its own; once the last is stored,
 * the pending ones are queued, in runs of ROWS_PER_JOB, in the transaction that marks the import
 * received. Workers (ImportWorker) do the rest.
 */
@Injectable()
export class ImportsService {
  private readonly logger = new Logger(ImportsService.name);

  constructor(
    private readonly repository: ImportsRepository,
    private readonly jobs: JobQueue,
    private readonly dataSource: DataSource,
    private readonly worker: ImportWorker,
    @Inject(IMPORTS_CONFIG) private readonly config: ImportsConfig,
  ) {}

  /**
   * Stores the rows as they arrive and queues the valid ones. A body refused as a whole (a
   * malformed CSV, too many rows or bytes, the client gone) leaves no import behind.
   *
   * With an Idempotency-Key, the work is the last transaction, which queues the rows: the empty
   * import made first, for the rows to be stored against while the body arrives, is not
   * (apartFromTheWork), so a process that dies mid-body leaves its key to be taken over after
   * IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS, not held until it expires. What it leaves is an import
   * still `receiving`: none of its rows queued, no image made, refused `409 import_receiving`
   * by retry and cancel, and deleted with its rows by the hourly sweep a day later.
   */
  async create(ctx: RequestContext, source: ImportSource): Promise<ImportDto> {
    const created = await this.begin(ctx, source.format);
    try {
      const total = await this.receive(created.id, source);
      await this.dataSource.transaction(async (manager) => {
        await this.repository.markProcessing(manager, created.id, total);
        await this.queuePending(manager, ctx, created.id);
      });
    } catch (error) {
      const gone = await this.deletedMeanwhile(created.id, error);
      // Often the database's own failure (a lost connection), which the deletion then meets too:
      // tried again on a new connection. Should it still fail, the sweep removes imports left
      // receiving for a day; the client hears the first failure, not the clean-up's.
      const remove = () => apartFromTheWork(() => this.repository.delete(created.id));
      await retryOnLostConnection(remove).catch((cleanup: unknown) =>
        this.logger.warn({ err: safeError(cleanup) }, 'A refused import could not be deleted'),
      );
      throw gone ? credentialGoneMeanwhile(ctx.principal.type) : error;
    }
    this.jobs.wake(IMPORT_ROWS_QUEUE);
    // Committed: a failure from here on must not be answered as the import's (a client that
    // retried would import it twice). Every row refused on arrival: nothing was queued, and the
    // import is done already.
    return this.settled(ctx, created.id);
  }

  /**
   * The empty import the rows are stored against as they arrive. Its organisation deleted
   * (delete-organization) while a cache (another instance's copy of an API key's row, for 5
   * seconds) still admitted the caller: the 401 that credential gets from now on, not a 500 from
   * the foreign key.
   */
  private async begin(ctx: RequestContext, format: ImportSource['format']): Promise<BulkImport> {
    try {
      return await apartFromTheWork(() => this.repository.create(ctx.principal, format));
    } catch (error) {
      if (!isForeignKeyViolation(error, 'FK_imports_organization')) throw error;
      throw credentialGoneMeanwhile(ctx.principal.type);
    }
  }

  /**
   * Whether the import failed because it was deleted while its body arrived: its organisation was
   * (delete-organization), the rows then refused by the database. Its caller is gone with it: the
   * 401 the next request with that credential gets, not a 500.
   */
  private async deletedMeanwhile(id: string, error: unknown): Promise<boolean> {
    if (error instanceof AppError) return false;
    return this.repository.findById(id).then(
      (found) => found === null,
      () => false,
    );
  }

  async get(ctx: RequestContext, id: string): Promise<ImportDto> {
    const found = await this.find(ctx, id);
    return this.present(found, undefined, { endIfStalled: true });
  }

  /** The organisation's imports, newest first, a page at a time. */
  async list(ctx: RequestContext, query: CursorQueryDto): Promise<ImportPageDto> {
    const found = await this.repository.listScoped(ctx.organizationId, {
      after: query.cursor ? decodeCursor(query.cursor, 'imports') : undefined,
      take: query.limit + 1,
    });
    const page = found.slice(0, query.limit);
    const last = page[page.length - 1];
    const counts = await this.countsEndingStalled(page);
    return {
      items: await Promise.all(page.map((item) => this.present(item, counts.get(item.id)))),
      next_cursor: found.length > query.limit && last ? encodeCursor(last, 'imports') : null,
    };
  }

  /**
   * The counts of a page of imports, those stalled ended first (see {@link endIfStalled}): the
   * list shows an import as its own read does, not processing until it is opened or the hourly
   * sweep runs. A page with imports processing reads their jobs in one statement more; only one
   * with none left is ended, and counted again.
   */
  private async countsEndingStalled(page: BulkImport[]): Promise<Map<string, StatusCounts>> {
    const ids = page.map((item) => item.id);
    const counts = await this.repository.countsOf(ids);
    const unfinished = page.filter((item) => mayBeStalled(item, counts.get(item.id)?.pending));
    if (unfinished.length === 0) return counts;
    const ended = await this.worker.closeAllStalled(unfinished.map((item) => item.id));
    return ended.length === 0 ? counts : this.repository.countsOf(ids);
  }

  async rows(
    ctx: RequestContext,
    id: string,
    query: ImportRowsQueryDto,
  ): Promise<ImportRowPageDto> {
    const found = await this.find(ctx, id);
    await this.endIfStalled(found);
    const rows = await this.repository.page(found.id, {
      status: query.status,
      after: query.cursor ? decodeRowCursor(query.cursor) : 0,
      take: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      items: page.map(rowDto),
      next_cursor: rows.length > query.limit && last ? encodeRowCursor(last.rowNumber) : null,
    };
  }

  /**
   * Runs the import's failed rows again (not those refused on arrival: they would fail the same
   * way), as the caller; rows already ok are skipped, so no image is made twice.
   */
  async retry(ctx: RequestContext, id: string): Promise<ImportDto> {
    const found = await this.find(ctx, id);
    if (found.state === ImportState.Receiving) {
      throw new AppError('import_receiving', 'The import is still being received; retry it later.');
    }
    await this.dataSource.transaction(async (manager) => {
      const days = this.config.BULK_IMPORT_RETENTION_DAYS;
      if (!(await this.repository.lockForRetry(manager, found.id, days))) {
        throw new AppError(
          'import_not_found',
          `The import finished more than ${days} days ago (BULK_IMPORT_RETENTION_DAYS): it is being deleted.`,
        );
      }
      const round = await this.repository.reopenFailed(manager, found.id, ctx.principal);
      await this.queuePending(manager, ctx, found.id, { reopenedOnly: true, round });
    });
    this.jobs.wake(IMPORT_ROWS_QUEUE);
    return this.settled(ctx, found.id);
  }

  /**
   * Stops an import: every row not yet done fails with `import_cancelled`, also one whose image is
   * being made (that image is undone), and the import completes. Rows already ok keep their
   * images. A retry runs the cancelled rows again. Cancelling a completed import changes nothing.
   */
  async cancel(ctx: RequestContext, id: string): Promise<ImportDto> {
    const found = await this.find(ctx, id);
    if (found.state === ImportState.Receiving) {
      throw new AppError(
        'import_receiving',
        'The import is still being received; cancel it once it is.',
      );
    }
    // The rows and the jobs queued for them, together, the import locked (a retry queueing
    // jobs waits): a job left queued would do nothing when its turn came, but the
    // organisation's next import would wait behind it (its imports run one after the other).
    await this.dataSource.transaction(async (manager) => {
      await this.repository.lock(manager, found.id);
      await this.repository.failAllPending(manager, found.id, CANCELLED);
      await this.jobs.cancelWaiting(manager, IMPORT_ROWS_QUEUE, found.id);
    });
    return this.settled(ctx, found.id);
  }

  /**
   * The import as a change committed just now left it, completed if nothing is pending: tried
   * again on a new connection after a lost one, rather than answering 503 for a change made.
   * Ending it if stalled (its jobs failed for good already) is this read's extra: should that
   * fail, the import is answered as it stands, left to the next read or the hourly sweep to end,
   * for the change was made and a client told 500 would make it again.
   */
  private async settled(ctx: RequestContext, id: string): Promise<ImportDto> {
    try {
      await retryOnLostConnection(() => this.repository.finishIfDone(id));
      return await retryOnLostConnection(() => this.get(ctx, id));
    } catch (error) {
      if (error instanceof AppError) throw error;
      this.logger.warn(
        { err: safeError(error), import: id },
        'An import could not be read back (or, stalled, ended) after its change; answered as it stands',
      );
      return retryOnLostConnection(async () => this.present(await this.find(ctx, id)));
    }
  }

  /** Stores the rows in batches as they arrive; returns how many there were. */
  private async receive(importId: string, { rows, lines }: ImportSource): Promise<number> {
    let batch: NewImportRow[] = [];
    let total = 0;
    for await (const raw of rows) {
      total++;
      if (total > this.config.BULK_IMPORT_MAX_ROWS) {
        throw importTooLarge(this.config.BULK_IMPORT_MAX_ROWS);
      }
      batch.push(importRow(total, raw, lineOf(raw, lines)));
      if (batch.length === INSERT_BATCH) {
        await this.repository.insertRows(importId, batch);
        batch = [];
      }
    }
    if (total === 0) throw new AppError('invalid_csv', 'The CSV has a header but no rows.');
    if (batch.length > 0) await this.repository.insertRows(importId, batch);
    return total;
  }

  /**
   * One job per run of pending rows, in the caller's transaction, naming its organisation. The
   * jobs take turns with other organisations' (JobQueue.nextTurn): an organisation's jobs follow
   * on from its last one still queued, another's start at the queue's current turn, so two
   * organisations importing together alternate a job each, whoever posted first and however
   * much, and a small import is not held behind another organisation's large one. An
   * organisation alone gets every worker (pg-boss's group concurrency would cap it); its own
   * imports run one after the other.
   */
  private async queuePending(
    manager: EntityManager,
    ctx: RequestContext,
    importId: string,
    { reopenedOnly = false, round = 0 }: { reopenedOnly?: boolean; round?: number } = {},
  ): Promise<void> {
    const chunks = await this.repository.chunks(manager, importId, ROWS_PER_JOB, {
      reopenedOnly,
    });
    if (chunks.length === 0) return;
    const turn = await this.jobs.nextTurn(manager, IMPORT_ROWS_QUEUE, ctx.organizationId);
    for (let i = 0; i < chunks.length; i += SEND_BATCH) {
      const jobs: ImportRowsJob[] = chunks.slice(i, i + SEND_BATCH).map(({ first, last }) => ({
        import_id: importId,
        first,
        last,
        retry_round: round,
        [JOB_ORGANIZATION_KEY]: ctx.organizationId,
      }));
      await this.jobs.sendMany(IMPORT_ROWS_QUEUE, jobs, {
        manager,
        priorityOf: (index) => -(turn + i + index),
        // Found by it when the import is checked for being stalled (ImportWorker.closeIfStalled).
        keyOf: () => importId,
      });
    }
  }

  /** The import `id` (a UUID) of the caller's organisation; 404 otherwise. */
  private async find(ctx: RequestContext, id: string): Promise<BulkImport> {
    const found = await this.repository.findScoped(ctx.organizationId, id);
    if (!found)
      throw new AppError('import_not_found', 'No import with this id in your organisation.');
    return found;
  }

  /**
   * When the last row was done. The worker records it just after that row, so a read in between
   * (or after a crash in between) records it itself: a completed import always shows when it ended.
   */
  private async finishedAt(found: BulkImport): Promise<Date | null> {
    if (found.finishedAt || found.state !== ImportState.Processing) return found.finishedAt;
    return this.repository.finishIfDone(found.id);
  }

  /**
   * Ends the import if no job will ever finish it (ImportWorker.closeIfStalled), so that it reads
   * completed, its pending rows failed, rather than processing for good; whether it was ended.
   * Only one that {@link mayBeStalled}: the import's read, its rows' and the list agree.
   */
  private async endIfStalled(found: BulkImport, pending?: number): Promise<boolean> {
    return mayBeStalled(found, pending) && this.worker.closeIfStalled(found.id);
  }

  /**
   * The import with its counts: `counts` when read already (with its page's), else read now. With
   * `endIfStalled`, one with rows pending that no job will ever work (ImportWorker.closeIfStalled)
   * is ended first, so that it shows completed, those rows failed, rather than processing for
   * good. The list passes neither: it has ended the stalled imports of its page already, their
   * jobs read together rather than in a statement an import ({@link countsEndingStalled}), and
   * passes the counts it read after.
   */
  private async present(
    found: BulkImport,
    counts?: StatusCounts,
    { endIfStalled = false } = {},
  ): Promise<ImportDto> {
    let read = counts ?? (await this.repository.counts(found.id));
    if (endIfStalled && (await this.endIfStalled(found, read.pending))) {
      read = await this.repository.counts(found.id);
    }
    const { pending, ok, failed } = read;
    const id = encodeShortId(found.id);
    const self = `${IMPORTS_PATH}/${id}`;
    return {
      id,
      state: stateOf(found, pending),
      format: found.format,
      counts: { total: pending + ok + failed, done: ok + failed, ok, failed, pending },
      links: {
        self,
        rows: `${self}/rows`,
        failed_rows: `${self}/rows?status=failed`,
        retry: `${self}/retry`,
        cancel: `${self}/cancel`,
      },
      created_at: found.createdAt,
      finished_at: pending === 0 ? await this.finishedAt(found) : null,
    };
  }
}

/**
 * Whether the import may be one no job will ever finish: processing, not finished, and not known
 * (`pending`, when its rows are counted already) to have no row pending.
 */
function mayBeStalled(found: BulkImport, pending?: number): boolean {
  return found.state === ImportState.Processing && !found.finishedAt && pending !== 0;
}

function stateOf(found: BulkImport, pending: number): ImportProgressState {
  if (found.state === ImportState.Receiving) return ImportProgressState.Receiving;
  return pending > 0 ? ImportProgressState.Processing : ImportProgressState.Completed;
}

function rowDto(row: BulkImportRow): ImportRowDto {
  return {
    row: row.rowNumber,
    line: row.lineNumber,
    status: row.status,
    product_id: row.productId ? encodeShortId(row.productId) : null,
    gtin: row.gtin,
    external_id: row.externalId,
    url: row.url,
    image_id: row.status === ImportRowStatus.Ok && row.imageId ? encodeShortId(row.imageId) : null,
    problem:
      row.status === ImportRowStatus.Failed && row.problemCode
        ? { code: row.problemCode, message: row.problemMessage ?? '' }
        : null,
  };
}

/** The line a CSV row starts on; null for a JSON row. */
function lineOf(raw: unknown, lines: ImportSource['lines']): number | null {
  return lines && typeof raw === 'object' && raw !== null ? (lines.get(raw) ?? null) : null;
}

/** A page of rows ends at a row number; the cursor is that number, opaque to clients. */
function encodeRowCursor(rowNumber: number): string {
  return Buffer.from(JSON.stringify({ r: rowNumber })).toString('base64url');
}

function decodeRowCursor(cursor: string): number {
  try {
    const value = cursorJson(cursor);
    const row = (value as { r?: unknown } | null)?.r;
    if (typeof row === 'number' && Number.isInteger(row) && row >= 0 && row <= 2 ** 31 - 1) {
      return row;
    }
  } catch {
    // Fall through.
  }
  throw new AppError('invalid_cursor', 'The cursor is not one this API returned.', [
    { field: 'cursor', message: 'is not a valid cursor' },
  ]);
}
