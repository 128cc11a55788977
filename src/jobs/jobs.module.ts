import { Module } from '@nestjs/common';
import { JobQueue } from './job-queue.service';
import { jobsConfigProvider } from './jobs.config';

/**
 * Background work on pg-boss. Import it where work is queued or done; define queues with
 * `JobQueue.define` in `onModuleInit`. One JobQueue (one engine) per application.
 */
@Module({
  providers: [jobsConfigProvider, JobQueue],
  exports: [JobQueue],
})
export class JobsModule {}
