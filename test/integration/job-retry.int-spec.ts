import { randomUUID } from 'node:crypto';
import { Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { Role } from '../../src/auth/roles';
import { JobQueue } from '../../src/jobs/job-queue.service';
import { JobsModule } from '../../src/jobs/jobs.module';
import { JOB_ORGANIZATION_KEY } from '../../src/jobs/jobs.repository';
import { JobsService } from '../../src/jobs/jobs.service';
import { contextFor } from '../support/factories';
import { errorCode, startIntegrationModule, type IntegrationModule } from '../support/integration';

/** A queue of an organisation's work, as the service's own features define theirs. */
@Injectable()
class Chores implements OnModuleInit {
  constructor(readonly jobs: JobQueue) {}

  onModuleInit(): void {
    this.jobs.define<{ label: string }>({ name: 'chore', handler: () => Promise.resolve() });
  }
}

@Module({ imports: [JobsModule], providers: [Chores] })
class ChoresModule {}

/**
 * An admin's retry of a failed job (POST /jobs/{id}/retry) against pg-boss's own maintenance,
 * which deletes jobs behind the service's back. In the `api` role: no worker takes the retried job,
 * as none does while the workers are busy or down.
 */
describe(`${JobsService.name} retry`, () => {
  let app: IntegrationModule;
  let jobs: JobQueue;
  let service: JobsService;
  const organizationId = randomUUID();
  const admin = contextFor({ organizationId, role: Role.Admin });

  beforeAll(async () => {
    app = await startIntegrationModule('default', {
      imports: [ChoresModule],
      env: { SERVICE_ROLE: 'api' },
    });
    jobs = app.get(JobQueue);
    service = app.get(JobsService);
  });
  afterAll(() => app?.close());
  afterEach(() => jest.restoreAllMocks());

  /** A job of the admin's organisation failed for good, queued `daysAgo` days ago. */
  async function failedJob(daysAgo = 0): Promise<string> {
    const id = await jobs.send('chore', { label: 'x', [JOB_ORGANIZATION_KEY]: organizationId });
    await app.dataSource.query(
      `UPDATE pgboss.job
          SET state = 'failed', retry_count = retry_limit, completed_on = now(),
              created_on = created_on - $2 * interval '1 day',
              start_after = start_after - $2 * interval '1 day',
              keep_until = keep_until - $2 * interval '1 day'
        WHERE id = $1`,
      [id, daysAgo],
    );
    return id!;
  }

  const exists = async (id: string) =>
    (await app.dataSource.query(`SELECT 1 FROM pgboss.job WHERE id = $1`, [id])).length > 0;

  it('answers 404 job_not_found when the job is deleted as it is retried, not a 500', async () => {
    const id = await failedJob();
    const retry = jobs.retry.bind(jobs);
    // pg-boss's maintenance removes it right after it was put back.
    jest.spyOn(jobs, 'retry').mockImplementation(async (name, jobId) => {
      const retried = await retry(name, jobId);
      await app.dataSource.query(`DELETE FROM pgboss.job WHERE id = $1`, [jobId]);
      return retried;
    });
    expect(await errorCode(service.retry(admin, id))).toBe('job_not_found');
  });

  it('answers 404 job_not_found, not "the job is failed", when it is deleted before it is put back', async () => {
    const id = await failedJob();
    const retry = jobs.retry.bind(jobs);
    jest.spyOn(jobs, 'retry').mockImplementation(async (name, jobId) => {
      await app.dataSource.query(`DELETE FROM pgboss.job WHERE id = $1`, [jobId]);
      return retry(name, jobId);
    });
    expect(await errorCode(service.retry(admin, id))).toBe('job_not_found');
  });

  it("keeps a retried job past pg-boss's retention of queued jobs, however old it is", async () => {
    // Queued 15 days ago (a backlog), failed for good today: pg-boss keeps a waiting job 14 days.
    const id = await failedJob(15);
    expect(await service.retry(admin, id)).toMatchObject({ state: 'retry' });
    // pg-boss's maintenance pass deletes the waiting jobs it no longer keeps.
    await (
      jobs as unknown as { engine: { supervise(name: string): Promise<void> } }
    ).engine.supervise('chore');
    expect(await exists(id)).toBe(true);
    expect((await service.get(admin, id)).state).toBe('retry');
  });
});
