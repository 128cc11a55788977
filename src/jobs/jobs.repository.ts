import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { JOB_SCHEMA, type JobState } from './pg-boss.engine';

/** One job as the admin routes show it: pg-boss's row, its last error's message only. */
export interface JobRow {
  id: string;
  name: string;
  state: JobState;
  data: unknown;
  retryCount: number;
  retryLimit: number;
  createdOn: Date;
  startedOn: Date | null;
  completedOn: Date | null;
  /** The message of the last failure, while the job is failed or waiting to be retried. */
  error: string | null;
  /** `created_on` to the microsecond (ISO 8601, UTC): the keyset position, which a Date would round. */
  position: string;
}

/** A keyset position: `created_on` to the microsecond and the id of the last job of a page. */
export interface JobPosition {
  createdOn: string;
  id: string;
}

export interface JobPageQuery {
  /** The queues the service defines: only their jobs are read. */
  queues: string[];
  state?: JobState;
  viewer: JobViewer;
  after?: JobPosition;
  take: number;
}

/**
 * The key under which a job's data names the organisation whose images, products or files it
 * works on: its import's rows, the deletion of files its change released, an image's rendition
 * rebuild and what that deletes, an expired upload's files. Such a job is shown to that
 * organisation's admins only. A job without it is shown to every admin if its queue is the
 * service's own (sweeps, a rebuild's plan: QueueDefinition.serviceWide), else to none: it was
 * queued before its queue's jobs named their organisation, and its data may name anyone's.
 */
export const JOB_ORGANIZATION_KEY = 'organization_id';

/** Whose admins ask: their organisation, and the queues whose unnamed jobs every admin sees. */
export interface JobViewer {
  organizationId: string;
  serviceWideQueues: string[];
}

/** The jobs `viewer` may see, as SQL over the values `$first` to `$first + 2`. */
const VISIBLE_TO = (first: number): string =>
  `(data->>$${first} = $${first + 1}
    OR (data->>$${first} IS NULL AND name = ANY($${first + 2}::text[])))`;

const JOB = `${JOB_SCHEMA}.job`;

// pg-boss stores a failure as the serialised error ({ name, message, stack, … }), or as
// { value: { message } } when it fails a job itself (an attempt that timed out). Only the
// message is read: a stack never leaves the database.
const COLUMNS = `
  id, name, state, data,
  retry_count AS "retryCount", retry_limit AS "retryLimit",
  created_on AS "createdOn", started_on AS "startedOn", completed_on AS "completedOn",
  CASE WHEN state IN ('failed', 'retry')
    THEN COALESCE(output->>'message', output#>>'{value,message}')
  END AS error,
  to_char(created_on AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS position`;

/**
 * Reads pg-boss's job table (`pgboss.job`) for the admin routes. pg-boss's API finds a job by
 * queue and id, but cannot list jobs by state or page through them, so this reads the table
 * itself, read-only; every change still goes through pg-boss (JobQueue.retry).
 *
 * Pages are keyset pages on (created_on, id), newest first: an OFFSET would rescan every
 * earlier job on each page, and a table of finished jobs is long. Each query names the queues
 * (`name = ANY(…)`): the table's indexes and partitions all lead with the queue's name.
 */
@Injectable()
export class JobsRepository {
  constructor(private readonly dataSource: DataSource) {}

  page(query: JobPageQuery): Promise<JobRow[]> {
    const { organizationId, serviceWideQueues } = query.viewer;
    const values: unknown[] = [
      query.queues,
      JOB_ORGANIZATION_KEY,
      organizationId,
      serviceWideQueues,
    ];
    const where = ['name = ANY($1::text[])', VISIBLE_TO(2)];
    if (query.state) {
      values.push(query.state);
      where.push(`state = $${values.length}::${JOB_SCHEMA}.job_state`);
    }
    if (query.after) {
      values.push(query.after.createdOn, query.after.id);
      where.push(
        `(created_on, id) < ($${values.length - 1}::timestamptz, $${values.length}::uuid)`,
      );
    }
    values.push(query.take);
    return this.dataSource.query<JobRow[]>(
      `SELECT ${COLUMNS} FROM ${JOB} WHERE ${where.join(' AND ')}
       ORDER BY created_on DESC, id DESC LIMIT $${values.length}`,
      values,
    );
  }

  /** The job of one of `queues` with this id, if `viewer` may see it. */
  async find(queues: string[], id: string, viewer: JobViewer): Promise<JobRow | null> {
    const [row] = await this.dataSource.query<JobRow[]>(
      `SELECT ${COLUMNS} FROM ${JOB}
       WHERE name = ANY($1::text[]) AND id = $2::uuid AND ${VISIBLE_TO(3)}`,
      [queues, id, JOB_ORGANIZATION_KEY, viewer.organizationId, viewer.serviceWideQueues],
    );
    return row ?? null;
  }
}
