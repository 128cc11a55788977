import { Injectable } from '@nestjs/common';
import type { RequestContext } from '../auth/principal';
import { AppError } from '../common/errors/app.error';
import { cursorJson } from '../common/pagination/cursor';
import { JobDto, type JobPageDto, type ListJobsQueryDto } from './dto/job.dto';
import { JobQueue } from './job-queue.service';
import { JobsRepository, type JobPosition, type JobRow, type JobViewer } from './jobs.repository';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** `created_on` as the repository writes it: UTC, to the microsecond. */
const POSITION_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/**
 * Jobs for admins: listed (by state and queue, newest first), shown, and a failed one retried.
 * An organisation's admins see the service's own jobs and their organisation's, never another
 * organisation's, nor a job that names none on a queue whose jobs are an organisation's (see
 * JOB_ORGANIZATION_KEY).
 */
@Injectable()
export class JobsService {
  constructor(
    private readonly queue: JobQueue,
    private readonly repository: JobsRepository,
  ) {}

  async list(ctx: RequestContext, query: ListJobsQueryDto): Promise<JobPageDto> {
    const queues = this.queue.queueNames();
    if (query.queue !== undefined && !queues.includes(query.queue)) {
      throw new AppError('validation_failed', `There is no queue "${query.queue}".`, [
        { field: 'queue', message: `must be one of: ${queues.join(', ') || '(none)'}` },
      ]);
    }
    const rows = await this.repository.page({
      queues: query.queue ? [query.queue] : queues,
      state: query.state,
      viewer: this.viewer(ctx),
      after: query.cursor ? decodeJobCursor(query.cursor, filterOf(query)) : undefined,
      take: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      items: page.map((row) => JobDto.from(row)),
      next_cursor:
        rows.length > query.limit && last ? encodeJobCursor(last, filterOf(query)) : null,
    };
  }

  async get(ctx: RequestContext, id: string): Promise<JobDto> {
    return JobDto.from(await this.find(ctx, id));
  }

  /**
   * Puts a failed job back in its queue, with one more attempt; 409 job_not_failed otherwise, 409
   * job_nothing_to_retry when running it again would do nothing (its queue says why), and 404
   * job_not_found when it is gone, before or right after it was put back.
   */
  async retry(ctx: RequestContext, id: string): Promise<JobDto> {
    const job = await this.find(ctx, id);
    // pg-boss retries only a failed job: a job that stopped being failed meanwhile is refused too.
    const idle = job.state === 'failed' && (await this.queue.nothingToRetry(job.name, job.data));
    if (idle) throw new AppError('job_nothing_to_retry', idle);
    if (job.state !== 'failed' || !(await this.queue.retry(job.name, job.id))) {
      const now = await this.repository.find([job.name], job.id, this.viewer(ctx));
      if (!now) throw jobNotFound();
      throw new AppError(
        'job_not_failed',
        `The job is ${now.state}: only a failed job can be retried.`,
      );
    }
    // This process's worker (roles `all` and `worker`) takes it now rather than at its next poll.
    this.queue.wake(job.name);
    // Deleted since (by pg-boss's maintenance): gone, as any job not found is.
    const retried = await this.repository.find([job.name], job.id, this.viewer(ctx));
    if (!retried) throw jobNotFound();
    return JobDto.from(retried);
  }

  private viewer(ctx: RequestContext): JobViewer {
    return {
      organizationId: ctx.organizationId,
      serviceWideQueues: this.queue.serviceWideQueueNames(),
    };
  }

  private async find(ctx: RequestContext, id: string): Promise<JobRow> {
    const job = await this.repository.find(this.queue.queueNames(), id, this.viewer(ctx));
    if (!job) throw jobNotFound();
    return job;
  }
}

function jobNotFound(): AppError {
  return new AppError('job_not_found', 'There is no job with this id.');
}

/** The filters a list was read with: its cursor is for a list read with the same only. */
interface JobFilter {
  state: string | null;
  queue: string | null;
}

function filterOf(query: ListJobsQueryDto): JobFilter {
  return { state: query.state ?? null, queue: query.queue ?? null };
}

/**
 * Opaque to clients: the last job's `created_on` (to the microsecond) and id, the list's name
 * (as the other lists' cursors carry theirs: one list's cursor is refused by another) and its
 * filters: under other filters the position would start another list part-way, without its
 * newer jobs, so such a cursor is refused as a foreign one.
 */
function encodeJobCursor(row: JobRow, filter: JobFilter): string {
  return Buffer.from(
    JSON.stringify([row.position, row.id, 'jobs', filter.state, filter.queue]),
  ).toString('base64url');
}

/** A real instant written as POSITION_TIME (not 30 February, not year 0, which PostgreSQL refuses). */
function isPositionTime(text: string): boolean {
  if (!POSITION_TIME.test(text) || text.startsWith('0000')) return false;
  const time = Date.parse(text);
  return !Number.isNaN(time) && new Date(time).toISOString().slice(0, 23) === text.slice(0, 23);
}

/** Anything that is not one of ours is 400 invalid_cursor (never a malformed query). */
function decodeJobCursor(cursor: string, filter: JobFilter): JobPosition {
  try {
    const value = cursorJson(cursor);
    if (
      Array.isArray(value) &&
      value.length === 5 &&
      value[2] === 'jobs' &&
      value[3] === filter.state &&
      value[4] === filter.queue
    ) {
      const [createdOn, id] = value as unknown[];
      if (
        typeof createdOn === 'string' &&
        isPositionTime(createdOn) &&
        typeof id === 'string' &&
        UUID.test(id)
      ) {
        return { createdOn, id };
      }
    }
  } catch {
    // Fall through.
  }
  throw new AppError('invalid_cursor', 'The cursor is not one this API returned.', [
    { field: 'cursor', message: 'is not a valid cursor' },
  ]);
}
