import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches } from 'class-validator';
import { MaxLength } from '../../common/http/max-length';
import { encodeShortId } from '../../common/ids/short-id';
import { CursorQueryDto } from '../../common/pagination/cursor-query.dto';
import type { JobState } from '../pg-boss.engine';
import type { JobRow } from '../jobs.repository';

/** pg-boss's states, in the order a job goes through them. */
export const JOB_STATES = [
  'created',
  'retry',
  'active',
  'completed',
  'cancelled',
  'failed',
] as const satisfies readonly JobState[];

const STATE_DESCRIPTION =
  '`created`: waiting for a worker; `retry`: failed, waiting to be tried again; `active`: ' +
  'running; `completed`; `cancelled`; `failed`: failed for good, every retry spent (an admin ' +
  'can retry it).';

/** A piece of background work, as pg-boss keeps it. */
export class JobDto {
  /** @example 'kYLvcQoew7krvywNq5hQZJ' */
  id!: string;

  /** The queue: the kind of work. @example 'file-deletion' */
  queue!: string;

  @ApiProperty({ enum: JOB_STATES, description: STATE_DESCRIPTION, example: 'failed' })
  state!: JobState;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    description: "The job's input: the keys and ids of what it works on.",
    example: { keys: ['products/0b6f…/7c9e…/original.jpg'] },
  })
  data!: Record<string, unknown> | null;

  /** Attempts made after the first. */
  @ApiProperty({ type: 'integer', minimum: 0, example: 5 })
  retry_count!: number;

  /** Attempts allowed after the first (each retry by an admin allows one more). */
  @ApiProperty({ type: 'integer', minimum: 0, example: 5 })
  retry_limit!: number;

  /** @example '2026-11-22T10:00:00.000Z' */
  created_at!: Date;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When its last attempt started.',
    example: '2026-11-22T10:31:02.000Z',
  })
  started_at!: Date | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When it completed, failed for good or was cancelled.',
    example: '2026-11-22T10:31:03.000Z',
  })
  completed_at!: Date | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The message of its last failure while it is `failed` or `retry`; otherwise null.',
    example: 'The image storage is unavailable',
  })
  error!: string | null;

  static from(row: JobRow): JobDto {
    return {
      id: encodeShortId(row.id),
      queue: row.name,
      state: row.state,
      data: isObject(row.data) ? row.data : null,
      retry_count: row.retryCount,
      retry_limit: row.retryLimit,
      created_at: row.createdOn,
      started_at: row.startedOn,
      completed_at: row.completedOn,
      error: row.error,
    };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class ListJobsQueryDto extends CursorQueryDto {
  @ApiPropertyOptional({
    enum: JOB_STATES,
    description: `Only jobs in this state. ${STATE_DESCRIPTION}`,
  })
  @IsOptional()
  @IsIn(JOB_STATES, { message: `state must be one of: ${JOB_STATES.join(', ')}` })
  state?: JobState;

  /** Only jobs of this queue (one the service defines). */
  @ApiPropertyOptional({ example: 'file-deletion', pattern: '^[a-z0-9-]+$' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  @Matches(/^[a-z0-9-]+$/, { message: 'queue must be lower-case words and dashes' })
  queue?: string;
}

export class JobPageDto {
  items!: JobDto[];

  /** Pass as `cursor` for the next page; null on the last page. */
  @ApiProperty({ type: String, nullable: true })
  next_cursor!: string | null;
}
