import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Ctx, MinRole, RequireScopes } from '../auth/decorators';
import type { RequestContext } from '../auth/principal';
import { Role, Scope } from '../auth/roles';
import { ParseIdPipe } from '../common/ids/parse-id.pipe';
import { ApiProblems, PROBLEMS } from '../openapi/problems';
import { JobDto, JobPageDto, ListJobsQueryDto } from './dto/job.dto';
import { JobsService } from './jobs.service';

/**
 * The jobs are images' work (their files' deletions, imports' rows, rebuilds): reading them takes
 * `images:read`, retrying one `images:write`, as the rendition rebuild routes.
 */
@ApiTags('jobs')
@Controller('jobs')
@MinRole(Role.Admin)
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Get()
  @RequireScopes(Scope.ImagesRead)
  @ApiOperation({
    operationId: 'listJobs',
    summary: 'List background jobs, newest first',
    description:
      'Admins only. Filter by `state` (`?state=failed` lists the jobs that failed for good, ' +
      'each with its `error`) and `queue`; pages by `cursor` (`next_cursor`), passed with the ' +
      'same `state` and `queue` (under other filters it is `400 invalid_cursor`). Jobs of another ' +
      'organisation are not listed.',
  })
  @ApiProblems(...PROBLEMS.validation, 'invalid_cursor')
  list(@Ctx() ctx: RequestContext, @Query() query: ListJobsQueryDto): Promise<JobPageDto> {
    return this.jobs.list(ctx, query);
  }

  @Get(':id')
  @RequireScopes(Scope.ImagesRead)
  @ApiOperation({
    operationId: 'getJob',
    summary: 'Get a background job',
    description: 'Admins only; a job of another organisation is 404.',
  })
  @ApiProblems('job_not_found')
  get(@Ctx() ctx: RequestContext, @Param('id', ParseIdPipe) id: string): Promise<JobDto> {
    return this.jobs.get(ctx, id);
  }

  @Post(':id/retry')
  @HttpCode(202)
  @RequireScopes(Scope.ImagesWrite)
  @ApiOperation({
    operationId: 'retryJob',
    summary: 'Retry a failed job',
    description:
      'Admins only. Puts a `failed` job back in its queue with one more attempt; it answers the ' +
      'job as it is read back: `retry`, which a worker runs next (or already `active`, even ' +
      'done, on an instance that runs jobs and took it at once). A job in any other state is `409 ' +
      'job_not_failed`; one that would do nothing if run again is `409 job_nothing_to_retry`, its ' +
      '`detail` saying what to do instead (a `bulk-import-rows` job, or its dead letter job in ' +
      '`bulk-import-rows-failed`, whose rows were recorded failed already: retry the import).',
  })
  @ApiProblems('job_not_found', 'job_not_failed', 'job_nothing_to_retry')
  retry(@Ctx() ctx: RequestContext, @Param('id', ParseIdPipe) id: string): Promise<JobDto> {
    return this.jobs.retry(ctx, id);
  }
}
