import { Module } from '@nestjs/common';
import { JobCountsRepository } from './job-counts.repository';
import { JobQueue } from './job-queue.service';
import { jobsConfigProvider } from './jobs.config';
import { JobsController } from './jobs.controller';
import { JobsRepository } from './jobs.repository';
import { JobsService } from './jobs.service';
import { QueuedJobsRepository } from './queued-jobs.repository';

/**
 * Background work on pg-boss. Import it where work is queued or done; define queues with
 * `JobQueue.define` in `onModuleInit`. One JobQueue (one engine) per application. Also the admin
 * routes under /api/v1/jobs (list, show, retry).
 */
@Module({
  controllers: [JobsController],
  providers: [
    jobsConfigProvider,
    JobQueue,
    JobsRepository,
    JobsService,
    JobCountsRepository,
    QueuedJobsRepository,
  ],
  exports: [JobQueue],
})
export class JobsModule {}
