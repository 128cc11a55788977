import { Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { JobQueue } from '../../src/jobs/job-queue.service';
import { JobsModule } from '../../src/jobs/jobs.module';
import { QueuedJobsRepository } from '../../src/jobs/queued-jobs.repository';
import { eventually } from '../support/eventually';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';

/** A feature with one queue, as the service's own features define theirs. */
@Injectable()
class Recorder implements OnModuleInit {
  readonly done: string[] = [];
  readonly attempts = new Map<string, number>();
  /** Jobs of `doomed` failed for good: their data and id. */
  readonly failedForGood: { label: string; jobId: string }[] = [];
  constructor(readonly jobs: JobQueue) {}

  onModuleInit(): void {
    this.jobs.define<{ label: string; failTimes?: number }>({
      name: 'record',
      retryLimit: 3,
      retryDelaySeconds: 1,
      handler: async ({ label, failTimes = 0 }) => {
        const attempt = (this.attempts.get(label) ?? 0) + 1;
        this.attempts.set(label, attempt);
        if (attempt <= failTimes) throw new Error(`attempt ${attempt} of ${label} fails`);
        this.done.push(label);
        return { label, attempt };
      },
    });
    this.jobs.define<{ label: string }>({
      name: 'doomed',
      retryLimit: 1,
      retryDelaySeconds: 1,
      heartbeat: true,
      handler: ({ label }) => Promise.reject(new Error(`${label} always fails`)),
      whenFailed: ({ label }, jobId) => {
        this.failedForGood.push({ label, jobId });
        return Promise.resolve();
      },
    });
  }
}

@Module({ imports: [JobsModule], providers: [Recorder] })
class RecorderModule {}

const backends = [
  ...(process.env.TEST_DATABASE_URL ? (['postgres'] as const) : []),
  'pglite' as const,
];

describe.each(backends)(`${JobQueue.name} on %s`, (backend) => {
  let app: IntegrationModule;
  let recorder: Recorder;
  let jobs: JobQueue;

  beforeAll(async () => {
    app = await startIntegrationModule(backend, {
      imports: [RecorderModule],
      env: { JOB_POLL_INTERVAL_MS: '500', JOB_HEARTBEAT_SECONDS: '12' },
    });
    recorder = app.get(Recorder);
    jobs = app.get(JobQueue);
  });
  afterAll(() => app?.close());

  it('runs a job queued in a transaction once that transaction commits, and keeps its output', async () => {
    const id = await app.dataSource.transaction((manager) =>
      jobs.send('record', { label: 'committed' }, { manager }),
    );
    jobs.wake('record');
    await eventually(() => recorder.done.includes('committed'), 'the committed job to run');
    await eventually(
      async () => (await jobs.getJob('record', id!))?.state === 'completed',
      'the job to be marked completed',
    );
    const job = await jobs.getJob('record', id!);
    expect(job).toMatchObject({ state: 'completed', output: { label: 'committed', attempt: 1 } });
  });

  it('never runs a job whose transaction rolled back', async () => {
    let id: string | null = null;
    await expect(
      app.dataSource.transaction(async (manager) => {
        id = await jobs.send('record', { label: 'rolled-back' }, { manager });
        throw new Error('the change fails');
      }),
    ).rejects.toThrow('the change fails');
    expect(id).not.toBeNull();
    expect(await jobs.getJob('record', id!)).toBeNull();
    // A later job runs, so the worker is alive and would have seen the first had it existed.
    await jobs.send('record', { label: 'after-rollback' });
    jobs.wake('record');
    await eventually(() => recorder.done.includes('after-rollback'), 'the job after the rollback');
    expect(recorder.attempts.has('rolled-back')).toBe(false);
  });

  it('retries a failing job with back-off until it succeeds', async () => {
    const id = await jobs.send('record', { label: 'flaky', failTimes: 2 });
    jobs.wake('record');
    await eventually(() => recorder.done.includes('flaky'), 'the flaky job to succeed');
    expect(recorder.attempts.get('flaky')).toBe(3);
    await eventually(
      async () => (await jobs.getJob('record', id!))?.state === 'completed',
      'the job to be marked completed',
    );
  });

  it('runs whenFailed once for a job failed for good, with its data and id, not for its retries', async () => {
    const id = await jobs.send('doomed', { label: 'hopeless' });
    jobs.wake('doomed');
    await eventually(
      () => recorder.failedForGood.length > 0,
      'the job failed for good to reach whenFailed',
    );
    expect(recorder.failedForGood).toEqual([{ label: 'hopeless', jobId: id }]);
    expect(await jobs.getJob('doomed', id!)).toMatchObject({ state: 'failed', retryCount: 1 });
    // The queue names its dead letter queue, and its heartbeat (JOB_HEARTBEAT_SECONDS), in the
    // database, and so does its job: what a process dying during the last attempt goes by
    // (pg-boss's monitor fails such a job the same way). A queue without a heartbeat has none.
    const queues = await app.dataSource.query<
      { name: string; dead_letter: string | null; heartbeat_seconds: number | null }[]
    >(
      `SELECT name, dead_letter, heartbeat_seconds FROM pgboss.queue
        WHERE name IN ('doomed', 'record') ORDER BY name`,
    );
    expect(queues).toEqual([
      { name: 'doomed', dead_letter: 'doomed-failed', heartbeat_seconds: 12 },
      { name: 'record', dead_letter: null, heartbeat_seconds: null },
    ]);
    const [job] = await app.dataSource.query<{ heartbeat_seconds: number }[]>(
      `SELECT heartbeat_seconds FROM pgboss.job WHERE id = $1`,
      [id],
    );
    expect(job).toEqual({ heartbeat_seconds: 12 });
  });

  it('queues a job with a singletonKey again once the one before it has run', async () => {
    const first = await jobs.send('record', { label: 'keyed 1' }, { singletonKey: 'again' });
    expect(first).toEqual(expect.any(String));
    jobs.wake('record');
    await eventually(
      async () => (await jobs.getJob('record', first!))?.state === 'completed',
      'the first keyed job to complete',
    );
    const second = await jobs.send('record', { label: 'keyed 2' }, { singletonKey: 'again' });
    expect(second).toEqual(expect.any(String));
    expect(second).not.toBe(first);
    jobs.wake('record');
    await eventually(() => recorder.done.includes('keyed 2'), 'the second keyed job to run');
  });

  it('refuses to enqueue "atomically" outside a transaction, and to use an undefined queue', async () => {
    await expect(
      jobs.send('record', { label: 'x' }, { manager: app.dataSource.manager }),
    ).rejects.toThrow('inside a transaction');
    await expect(jobs.send('nope', {})).rejects.toThrow('Unknown queue nope');
  });
});

describe(`${JobQueue.name} in the api role`, () => {
  it("gives jobs an earlier version queued their queue's dead letter queue and heartbeat", async () => {
    const app = await startIntegrationModule('default', {
      imports: [RecorderModule],
      env: { SERVICE_ROLE: 'api' },
    });
    try {
      const jobs = app.get(JobQueue);
      const [waiting, running] = [
        await jobs.send('doomed', { label: 'waiting' }),
        await jobs.send('doomed', { label: 'running' }),
      ];
      // As an earlier version queued them (pg-boss copies the queue's settings onto each job),
      // one of them now running on an instance of that version.
      await app.dataSource.query(
        `UPDATE pgboss.job SET dead_letter = NULL, heartbeat_seconds = NULL,
                state = CASE WHEN id = $2 THEN 'active'::pgboss.job_state ELSE state END
          WHERE id IN ($1, $2)`,
        [waiting, running],
      );
      const settings = { deadLetter: 'doomed-failed', heartbeatSeconds: 10 };
      const queued = app.get(QueuedJobsRepository);
      expect(await queued.adopt('doomed', settings)).toBe(2);
      const rows = await app.dataSource.query<
        { id: string; dead_letter: string; heartbeat_seconds: number | null }[]
      >(`SELECT id, dead_letter, heartbeat_seconds FROM pgboss.job WHERE id IN ($1, $2)`, [
        waiting,
        running,
      ]);
      expect(new Map(rows.map(({ id, ...row }) => [id, row]))).toEqual(
        new Map([
          [waiting, { dead_letter: 'doomed-failed', heartbeat_seconds: 10 }],
          // Its instance may send no heartbeat: given one, it would be failed while it works.
          [running, { dead_letter: 'doomed-failed', heartbeat_seconds: null }],
        ]),
      );
      expect(await queued.adopt('doomed', settings)).toBe(0);
    } finally {
      await app.close();
    }
  });

  it('keeps one job waiting per singletonKey: sending it again leaves the one waiting', async () => {
    const app = await startIntegrationModule('default', {
      imports: [RecorderModule],
      env: { SERVICE_ROLE: 'api' },
    });
    try {
      const jobs = app.get(JobQueue);
      const first = await app.dataSource.transaction((manager) =>
        jobs.send('record', { label: 'plan' }, { manager, singletonKey: 'run-1' }),
      );
      expect(first).toEqual(expect.any(String));
      expect(await jobs.send('record', { label: 'plan' }, { singletonKey: 'run-1' })).toBeNull();
      const other = await jobs.send('record', { label: 'plan' }, { singletonKey: 'run-2' });
      expect(other).toEqual(expect.any(String));
      expect(other).not.toBe(first);
      expect(
        await app.dataSource.query(
          `SELECT id, singleton_key, state FROM pgboss.job WHERE name = 'record'
            ORDER BY singleton_key`,
        ),
      ).toEqual([
        { id: first, singleton_key: 'run-1', state: 'created' },
        { id: other, singleton_key: 'run-2', state: 'created' },
      ]);
    } finally {
      await app.close();
    }
  });

  it('queues jobs but does not run them', async () => {
    const app = await startIntegrationModule('default', {
      imports: [RecorderModule],
      env: { SERVICE_ROLE: 'api', JOB_POLL_INTERVAL_MS: '500' },
    });
    try {
      const jobs = app.get(JobQueue);
      const id = await jobs.send('record', { label: 'waits' });
      jobs.wake('record');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(app.get(Recorder).done).toEqual([]);
      expect((await jobs.getJob('record', id!))?.state).toBe('created');
    } finally {
      await app.close();
    }
  });
});

/** A queue worked one job at a time, as the rebuild queue is on an `all` instance. */
@Injectable()
class SerialRecorder implements OnModuleInit {
  readonly done: number[] = [];
  constructor(readonly jobs: JobQueue) {}

  onModuleInit(): void {
    this.jobs.define<{ n: number }>({
      name: 'serial',
      concurrency: 1,
      handler: ({ n }) => {
        this.done.push(n);
        return Promise.resolve();
      },
    });
  }
}

@Module({ imports: [JobsModule], providers: [SerialRecorder] })
class SerialModule {}

describe(`${JobQueue.name} with jobs waiting`, () => {
  let app: IntegrationModule;

  beforeAll(async () => {
    // A poll interval far longer than the test: only a worker that goes on at once gets through.
    app = await startIntegrationModule(backends[0], {
      imports: [SerialModule],
      env: { JOB_POLL_INTERVAL_MS: '60000' },
    });
  });
  afterAll(() => app?.close());

  it('runs them one after another, not one per poll interval', async () => {
    const jobs = app.get(JobQueue);
    const recorder = app.get(SerialRecorder);
    await app.dataSource.transaction((manager) =>
      jobs.sendMany(
        'serial',
        Array.from({ length: 6 }, (_, n) => ({ n })),
        { manager },
      ),
    );
    jobs.wake('serial');
    // Before, one job a poll: five minutes for these six.
    await eventually(() => recorder.done.length === 6, 'the six jobs to run', 60_000);
    expect([...recorder.done].sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
