import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { RequestContext, type Principal } from '../auth/principal';
import { PrincipalService } from '../auth/principal.service';
import { Role, Scope } from '../auth/roles';
import { authorise, type RouteAccess } from '../auth/route-access';
import { AppError } from '../common/errors/app.error';
import { errorStatus } from '../common/errors/error-codes';
import { encodeShortId } from '../common/ids/short-id';
import { safeError } from '../common/logging/safe-error';
import { ImagesService } from '../images/images.service';
import { failedQueueOf, JobQueue, type JobRecord } from '../jobs/job-queue.service';
import { JOB_ORGANIZATION_KEY } from '../jobs/jobs.repository';
import { ImportRowStatus, type BulkImportRow } from './entities/bulk-import-row.entity';
import { cleanMessage, importRow, productRefOf } from './import-row';
import { IMPORTS_CONFIG, type ImportsConfig } from './imports.config';
import {
  ImportsRepository,
  INVALID_ROW_CODE,
  RowClaimLostError,
  type JobAttempt,
  type RowChunk,
} from './imports.repository';

export const IMPORT_ROWS_QUEUE = 'bulk-import-rows';
export const IMPORT_SWEEP_QUEUE = 'bulk-import-sweep';

/**
 * Rows one job works, one after the other. Not one job a row: 100,000 rows are 10,000 jobs
 * rather than 100,000 (a tenth of the queue's rows, fetches and completions), yet a 50-row import
 * is still five jobs that workers run in parallel (JOB_CONCURRENCY each), and a worker that dies
 * mid-job leaves at most ten rows to its retry, which skips those already ok.
 */
export const ROWS_PER_JOB = 10;
/** Attempts after the first, for failures that are the service's (storage down, busy). */
const RETRY_LIMIT = 5;
/** Imports whose body never finished arriving (a crash mid-upload) are deleted after this. */
const ABANDONED_AFTER_HOURS = 24;

/** A bulk-import-rows job: rows `first` to `last` of an import, those still pending. */
export interface ImportRowsJob extends RowChunk {
  import_id: string;
  /** The retry that queued it (0: the import itself); absent on jobs queued before rounds. */
  retry_round?: number;
  /** Its import's organisation: only that organisation's admins see the job. */
  [JOB_ORGANIZATION_KEY]?: string;
}

/**
 * What posting an import takes (ImportsController's create and retry): checked again for each row
 * against the poster as they are now. A unit test compares it with the routes' decorators.
 */
export const POSTER_ACCESS: RouteAccess = {
  public: false,
  role: Role.Admin,
  scopes: [Scope.ImagesWrite],
};

/** The queues whose jobs may still work an import's rows: its own, and its dead letter queue. */
const IMPORT_JOB_QUEUES = [IMPORT_ROWS_QUEUE, failedQueueOf(IMPORT_ROWS_QUEUE)];
/** The key of a job's data naming its import. */
const IMPORT_KEY = 'import_id' satisfies keyof ImportRowsJob;

/** A row the service failed to work, for good: its own fault, not the row's. */
const SERVICE_FAILURE = {
  code: 'internal_error',
  message: 'The row could not be processed. Retry the import later.',
};

/** What a row's attempt came to. */
type Outcome = 'ok' | 'failed' | 'skipped' | { retry: unknown };

/**
 * Works bulk-import rows, as jobs: each row's image is fetched and added exactly as
 * `ImagesService.uploadFromUrl` does for one (the gallery upload path, with the Ocha API's
 * SSRF-safe fetcher), as the principal who posted the import. A row fails alone, with the code
 * of the error that refused it; a failure of the service (storage down, processing queue full)
 * fails the job instead, to be retried with back-off, and only its last attempt records it on
 * the row. A row is claimed before it is worked, under a fresh image id, so that two jobs never
 * work it at once and an image made before a crash is found on the retry instead of made again.
 */
@Injectable()
export class ImportWorker implements OnModuleInit {
  private readonly logger = new Logger('BulkImports');
  /** How long a job (and a claim on a row) may take: each of its rows fetched in full, and more. */
  private readonly leaseSeconds: number;
  /** Days a completed import is kept (0: for ever). */
  private readonly retentionDays: number;

  constructor(
    private readonly repository: ImportsRepository,
    private readonly images: ImagesService,
    private readonly jobs: JobQueue,
    private readonly principals: PrincipalService,
    @Inject(IMPORTS_CONFIG) config: ImportsConfig,
  ) {
    this.leaseSeconds = ROWS_PER_JOB * (Math.ceil(config.IMPORT_TIMEOUT_MS / 1000) + 60);
    this.retentionDays = config.BULK_IMPORT_RETENTION_DAYS;
  }

  onModuleInit(): void {
    this.jobs.define<ImportRowsJob>({
      name: IMPORT_ROWS_QUEUE,
      handler: (data, job) => this.work(data, job),
      retryLimit: RETRY_LIMIT,
      expireInSeconds: this.leaseSeconds,
      // A job whose worker is not heard from (its process died) is retried by another.
      heartbeat: true,
      whenFailed: (data, jobId) => this.failLeftPending(data, jobId),
      nothingToRetry: (data) => this.nothingToRetry(data),
    });
    this.jobs.define({
      name: IMPORT_SWEEP_QUEUE,
      schedule: '17 * * * *',
      retryLimit: 1,
      handler: () => this.sweep(),
    });
  }

  /**
   * The hourly sweep: imports no job will ever finish (ended: see {@link closeAllStalled}, their
   * jobs read in one statement however many are unfinished), those never received whole, and
   * completed ones past their retention.
   */
  async sweep(): Promise<{ deleted: number; expired: number; stalled: number }> {
    const stalled = (await this.closeAllStalled(await this.repository.unfinished())).length;
    const deleted = await this.repository.deleteAbandoned(ABANDONED_AFTER_HOURS);
    const expired =
      this.retentionDays > 0 ? await this.repository.deleteFinished(this.retentionDays) : 0;
    return { deleted, expired, stalled };
  }

  /**
   * Ends an import with rows pending that no job of its own, nor of `bulk-import-rows-failed`,
   * may still work: those jobs failed for good (the one recording a dead job's rows too, say on a
   * database fault that outlasted its retries) or were deleted unrun. Its pending rows fail as the
   * service's failures do (retry the import to run them again), and it completes. Returns whether
   * it was ended.
   *
   * Its jobs are read first by their key (the import's id: ImportsService queues them so), which
   * pg-boss indexes, however many jobs other imports have queued; only when none is seen is the
   * import locked and its jobs read again by their data, which also finds a job an earlier
   * version queued without that key.
   */
  closeIfStalled(importId: string): Promise<boolean> {
    return this.repository.closeStalled(
      importId,
      SERVICE_FAILURE,
      (manager) => this.jobs.anyPending(manager, IMPORT_JOB_QUEUES, IMPORT_KEY, importId),
      (manager) =>
        this.jobs.anyPending(manager, IMPORT_JOB_QUEUES, IMPORT_KEY, importId, { keyed: true }),
    );
  }

  /**
   * Ends those of `importIds` that are stalled (see {@link closeIfStalled}): the jobs of all of
   * them are read in one statement, by their key, and only those with none left are locked, their
   * jobs read again under the lock, and ended, each in its own transaction (once: an import ended
   * is not one of `importIds` again). Returns those ended.
   */
  async closeAllStalled(importIds: string[]): Promise<string[]> {
    const seen = { keyed: true };
    const ended: string[] = [];
    for (const id of await this.jobs.noneLeft(IMPORT_JOB_QUEUES, IMPORT_KEY, importIds, seen)) {
      const left = (manager: EntityManager) =>
        this.jobs.anyPending(manager, IMPORT_JOB_QUEUES, IMPORT_KEY, id);
      if (await this.repository.closeStalled(id, SERVICE_FAILURE, left)) ended.push(id);
    }
    return ended;
  }

  /** Works the pending rows of one run; throws (to be retried) if any met a service failure. */
  async work(data: ImportRowsJob, job: JobRecord<ImportRowsJob>): Promise<object> {
    const found = await this.repository.findById(data.import_id);
    if (!found) return { skipped: 'the import was deleted' };
    const holder = { jobId: job.id, attempt: job.retryCount };
    const lastAttempt = job.retryCount >= RETRY_LIMIT;
    const tally = { ok: 0, failed: 0, skipped: 0 };
    let retry: Error | undefined;
    for (const row of await this.repository.pendingRows(found.id, data)) {
      const outcome = await this.runRow(
        found.principal,
        row,
        holder,
        lastAttempt,
        data.retry_round,
      );
      if (typeof outcome === 'object') retry ??= asError(outcome.retry);
      else tally[outcome]++;
    }
    await this.repository.finishIfDone(found.id);
    if (retry) throw retry;
    return tally;
  }

  /**
   * A job failed for good with rows still pending: its process died during its last attempt, so
   * no attempt recorded them. They fail as the service's failures do on a last attempt (retry the
   * import to run them again), and the import finishes if they were its last.
   */
  async failLeftPending(data: ImportRowsJob, jobId: string): Promise<void> {
    const chunk = { first: data.first, last: data.last, round: data.retry_round };
    await this.repository.failLeftPending(data.import_id, chunk, jobId, SERVICE_FAILURE);
    await this.repository.finishIfDone(data.import_id);
  }

  /**
   * Why an admin's retry of a job failed for good would do nothing: every row of its run is done
   * (its last attempt, the job recording a dead one's rows, or the import's end as stalled, which
   * failed those left), so it would complete at once having run none. The import's retry runs them.
   */
  private async nothingToRetry(data: ImportRowsJob): Promise<string | null> {
    const chunk = { first: data.first, last: data.last, round: data.retry_round };
    if (await this.repository.anyPendingIn(data.import_id, chunk)) return null;
    if (!(await this.repository.findById(data.import_id))) return 'Its import was deleted.';
    const retry = `/api/v1/imports/${encodeShortId(data.import_id)}/retry`;
    return `Its rows were recorded failed (or done) already: run them again with POST ${retry}.`;
  }

  private async runRow(
    poster: Principal,
    row: BulkImportRow,
    holder: JobAttempt,
    lastAttempt: boolean,
    round: number | undefined,
  ): Promise<Outcome> {
    // Not a row a retry put back since this job was queued (a cancel, then a retry, while it ran):
    // that row is its retry's job's, to run as who retried it.
    const claim = await this.repository.claim(
      row.importId,
      row.rowNumber,
      holder,
      this.leaseSeconds,
      round,
    );
    if (!claim) return 'skipped';
    try {
      if (claim.made) {
        await this.repository.succeed(row, holder, claim.imageId);
        return 'ok';
      }
      const fields = fieldsOf(row);
      const ctx = await this.actingAs(poster);
      // The row is ok in the image's own transaction, if this attempt still holds it: an attempt
      // that froze while a retry took the row over makes no second image when it wakes.
      const alsoRecord = (manager: EntityManager) =>
        this.repository.succeed(row, holder, claim.imageId, manager);
      const image = { id: claim.imageId, alsoRecord };
      await this.images.uploadFromUrl(ctx, productRefOf(row), row.url ?? '', fields, image);
      return 'ok';
    } catch (error) {
      return this.rowFailed(row, holder, error, lastAttempt);
    }
  }

  /** A row's failure: recorded, unless the service's own (then retried) or the claim was lost. */
  private async rowFailed(
    row: BulkImportRow,
    holder: JobAttempt,
    error: unknown,
    lastAttempt: boolean,
  ): Promise<Outcome> {
    if (error instanceof RowClaimLostError) return 'skipped';
    const problem = rowProblem(error, lastAttempt);
    if (!problem) {
      this.logger.warn(
        { err: safeError(error), import: row.importId, row: row.rowNumber },
        'Bulk import row failed; its job will be retried',
      );
      return { retry: error };
    }
    return (await this.repository.fail(row, holder, problem)) ? 'failed' : 'skipped';
  }

  /**
   * Each row runs as who posted the import (or last retried it) is now: a key revoked since, or a
   * user disabled, deleted, logged out, with a changed password or no longer an admin with
   * `images:write`, fails the rows left (4xx, so at once, not retried), as their requests would
   * be refused.
   */
  private async actingAs(poster: Principal): Promise<RequestContext> {
    const current = await this.principals.current(poster);
    if (!current) {
      throw poster.type === 'api_key'
        ? new AppError(
            'invalid_api_key',
            'The API key that posted this import (or last retried it) was revoked or has expired.',
          )
        : new AppError(
            'invalid_token',
            'The user who posted this import (or last retried it) is disabled or deleted, or ' +
              'the session they posted it in has ended (a logout or a password change).',
          );
    }
    authorise(current, POSTER_ACCESS);
    return new RequestContext(current);
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * The row's gallery fields, checked again as posting the row today would check it (importRow: the
 * row DTO, through validateInput): a row stored by a version whose rules were looser (a title or
 * alt text showing as nothing, refused since 52046be), worked or retried now, fails as it would
 * on arrival, `invalid_import_row` with the same message (so a retry leaves it, as it leaves those
 * refused on arrival), before its image is fetched. Its values as the rules read them (trimmed).
 */
function fieldsOf(row: BulkImportRow) {
  const stored = {
    product_id: row.productId,
    gtin: row.gtin,
    external_id: row.externalId,
    url: row.url,
    title: row.title,
    alt_text: row.altText,
    is_primary: row.isPrimary,
    priority: row.priority,
  };
  // A column left null is a field the row left out.
  const given = Object.entries(stored).filter(([, value]) => value !== null);
  const checked = importRow(row.rowNumber, Object.fromEntries(given), row.lineNumber);
  if (checked.status === ImportRowStatus.Failed) {
    throw new AppError(INVALID_ROW_CODE, checked.problem_message ?? 'The row is invalid.');
  }
  return {
    title: checked.title ?? undefined,
    alt_text: checked.alt_text ?? undefined,
    is_primary: checked.is_primary ?? undefined,
    priority: checked.priority ?? undefined,
  };
}

/**
 * The row's problem: the client's errors (the product, the URL, the image) at once; the
 * service's own only on the job's last attempt, when no retry will come.
 */
function rowProblem(
  error: unknown,
  lastAttempt: boolean,
): { code: string; message: string } | null {
  if (error instanceof AppError && (errorStatus(error.code) < 500 || lastAttempt)) {
    return { code: error.code, message: cleanMessage(error.detail) };
  }
  return lastAttempt ? SERVICE_FAILURE : null;
}
