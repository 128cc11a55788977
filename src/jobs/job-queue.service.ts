import { performance } from 'node:perf_hooks';
import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { safeError } from '../common/logging/safe-error';
import { isDatabaseConnectionLost, isStatementCancelled } from '../database/pg-errors';
import { ServiceRole } from '../config/env.validation';
import { Metrics } from '../metrics/metrics.service';
import { JobCountsRepository } from './job-counts.repository';
import { JOB_ORGANIZATION_KEY } from './jobs.repository';
import { QueuedJobsRepository } from './queued-jobs.repository';
import { RepeatLimiter } from '../common/logging/repeat-limiter';
import { isExpectedJobFailure, jobFailure } from './job-failure';
import { JOBS_CONFIG, type JobsConfig } from './jobs.config';
import {
  createEngine,
  transactionExecutor,
  type Engine,
  type JobDetails,
  type JobRecord,
} from './pg-boss.engine';

export type { JobDetails, JobRecord, JobState } from './pg-boss.engine';

/** A kind of background work: its queue's retry policy, its handler and, optionally, a schedule. */
export interface QueueDefinition<T extends object> {
  /** The queue's name: lower-case words and dashes (`file-deletion`). */
  name: string;
  /** Does one job; resolves with its output (kept with the job), or throws to fail this attempt. */
  handler: (data: T, job: JobRecord<T>) => Promise<object | void>;
  /** Attempts after the first before the job is failed for good (default 5). */
  retryLimit?: number;
  /** Seconds before the first retry, doubled each time up to `retryDelayMaxSeconds` (30, 3600). */
  retryDelaySeconds?: number;
  retryDelayMaxSeconds?: number;
  /** How long one attempt may run before it counts as failed (default 15 minutes). */
  expireInSeconds?: number;
  /**
   * A running job's worker must be heard from every JOB_HEARTBEAT_SECONDS (pg-boss refreshes it
   * every half of that while the handler runs): a job whose process died is retried once that has
   * passed twice at most, and its retry delay, not only once `expireInSeconds` has. Default: off.
   */
  heartbeat?: boolean;
  /** Jobs of this queue one process runs at once (default JOB_CONCURRENCY). */
  concurrency?: number;
  /** A cron expression (UTC): the queue gets one job per tick, made by one instance only. */
  schedule?: string;
  /**
   * Its jobs are the service's own and name no organisation's images, products or files (a
   * sweep; a rendition rebuild's plan): every organisation's admins see them. Scheduled queues
   * are. Any other queue's job is shown only to the organisation its data names (see
   * JOB_ORGANIZATION_KEY), and to no one when it names none.
   */
  serviceWide?: boolean;
  /**
   * Runs once for each job failed for good: its last attempt threw, or its process died during
   * it (which no handler of its own can answer for). A job of its own, in the queue
   * `<name>-failed` (pg-boss's dead letter queue), retried as any job is.
   */
  whenFailed?: (data: T, failedJobId: string) => Promise<void>;
  /**
   * Why an admin's retry of a failed job of this queue would do nothing (its work was recorded
   * otherwise since: a sentence saying what to do instead), or null to retry it. Asked of its
   * dead letter queue's failed jobs too: they carry the same data, and `whenFailed` records what
   * such a job left undone, which is then recorded already.
   */
  nothingToRetry?: (data: T) => Promise<string | null>;
}

/** The queue a queue's jobs failed for good go to (see QueueDefinition.whenFailed). */
export const failedQueueOf = (name: string): string => `${name}-failed`;

export interface SendOptions {
  /** The transaction that makes the change this job completes: the job commits with it. */
  manager?: EntityManager;
  /**
   * At most one job waiting per key (queued, or for its retry): a send while one waits leaves
   * that one, its data replaced by this send's. A job already running does not count.
   */
  singletonKey?: string;
  startAfterSeconds?: number;
}

/** (No `startAfterSeconds`: every job of a sendMany may run at once.) */
export interface SendManyOptions extends Omit<SendOptions, 'singletonKey' | 'startAfterSeconds'> {
  /**
   * The priority of the job at `index` (0 unless given): workers take the highest first, and of
   * equal priorities the oldest.
   */
  priorityOf?: (index: number) => number;
  /**
   * The key of the job at `index` (pg-boss's singleton key). On our queues (pg-boss's standard
   * policy) a label only, which many jobs may share; pg-boss indexes it for waiting jobs, so a
   * look-up of a key's jobs (JobQueue.anyPending's `keyed`) does not scan the queue.
   */
  keyOf?: (index: number) => string;
}

/**
 * How long running jobs may go on finishing when `remainingMs` are left before the process exits
 * anyway: all but a quarter of it (at most 3 s), kept for failing the rest back to their queue
 * and closing the database.
 */
export function jobDrainMs(remainingMs: number): number {
  const remaining = Math.max(0, remainingMs);
  return Math.round(remaining - Math.min(3000, remaining / 4));
}

/**
 * The service's job queue: pg-boss (pg-boss.engine.ts) on the service's own database. Features
 * define their queues in `onModuleInit`; at bootstrap the engine starts, creates them, registers
 * their schedules and, when this process runs jobs (SERVICE_ROLE `all` or `worker`), works them.
 * Retries, back-off, expiry, schedules and locking are pg-boss's, not ours.
 */
@Injectable()
export class JobQueue implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Jobs');
  private readonly definitions = new Map<string, QueueDefinition<object>>();
  private readonly workers = new Map<string, string>();
  /** Queues of jobs failed for good, whose jobs are fetched with their source's id. */
  private readonly deadLetterQueues = new Set<string>();
  private readonly engine: Engine;
  private started = false;
  private stopping?: Promise<void>;
  private readonly outageErrors = new RepeatLimiter(60_000);
  private readonly slowDatabaseErrors = new RepeatLimiter(60_000);

  constructor(
    @InjectDataSource() dataSource: DataSource,
    @Inject(JOBS_CONFIG) private readonly config: JobsConfig,
    counts: JobCountsRepository,
    private readonly queued: QueuedJobsRepository,
    // Optional for a queue built without the application's metrics (a test's module).
    @Optional() private readonly metrics: Metrics = new Metrics(),
  ) {
    this.engine = createEngine(dataSource, {
      embedded: !config.DATABASE_URL,
      name: `pis-${config.SERVICE_ROLE}`,
      heartbeatSeconds: config.JOB_HEARTBEAT_SECONDS,
    });
    this.engine.on('error', (error: unknown) => this.engineError(error));
    // Counted at each scrape while the engine runs: the same numbers from every process.
    metrics.watchJobCounts(async () => (this.started ? counts.count(this.queueNames()) : []));
  }

  /**
   * The engine's errors, logged; those of a database gone (every queue's poll fails until it is
   * back) once a minute, with the number held back since.
   */
  private engineError(error: unknown): void {
    const fields = { err: safeError(error), ...engineErrorQueue(error) };
    const [limiter, what] = isDatabaseConnectionLost(error)
      ? [this.outageErrors, 'the database is unreachable']
      : isStatementCancelled(error)
        ? [this.slowDatabaseErrors, 'the database did not answer in time (a lock held long?)']
        : [];
    if (!limiter) return this.logger.error(fields, 'Job engine error');
    const held = limiter.take();
    if (held === undefined) return;
    this.logger.error(
      { ...fields, held_back: held },
      `Job engine error: ${what} (such errors are logged once a minute)`,
    );
  }

  /** Whether this process works jobs (the `api` role only enqueues them). */
  get runsJobs(): boolean {
    return this.config.SERVICE_ROLE !== ServiceRole.Api;
  }

  define<T extends object>(definition: QueueDefinition<T>): void {
    if (this.started) throw new Error(`Queue ${definition.name} defined after start`);
    if (this.definitions.has(definition.name)) {
      throw new Error(`Queue ${definition.name} is defined twice`);
    }
    const { whenFailed, nothingToRetry } = definition;
    // Before its queue: pg-boss makes a dead letter queue first.
    if (whenFailed) {
      const name = failedQueueOf(definition.name);
      this.deadLetterQueues.add(name);
      this.define<T>({
        name,
        handler: async (data, job) => whenFailed(data, job.sourceId ?? ''),
        nothingToRetry,
      });
    }
    this.definitions.set(definition.name, definition as unknown as QueueDefinition<object>);
  }

  async onApplicationBootstrap(): Promise<void> {
    this.started = true;
    await this.engine.start();
    for (const definition of this.definitions.values()) await this.createQueue(definition);
    if (this.runsJobs) {
      for (const definition of this.definitions.values()) await this.work(definition);
    }
  }

  /** Nest's shutdown: {@link stop}, unless main.ts's shutdown did it already. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.stop(this.config.SHUTDOWN_TIMEOUT_MS);
  }

  /**
   * Stops taking jobs and lets running ones finish within most of `remainingMs` (the time left
   * before the process exits anyway); those still running then are failed back to their queue
   * (pg-boss), for another worker to retry after their retry delay, rather than once their
   * heartbeat lapses as after a crash. Once, however often called.
   */
  stop(remainingMs: number): Promise<void> {
    this.stopping ??= this.started ? this.stopEngine(jobDrainMs(remainingMs)) : Promise.resolve();
    return this.stopping;
  }

  private async stopEngine(timeout: number): Promise<void> {
    this.started = false;
    await this.engine.stop({ graceful: true, close: true, timeout });
  }

  /**
   * Queues one job; with `manager`, atomically with that transaction. Returns its id, or null
   * when a job with its `singletonKey` was waiting already (and is kept instead).
   */
  async send<T extends object>(
    name: string,
    data: T,
    options: SendOptions = {},
  ): Promise<string | null> {
    this.assertDefined(name);
    const db = options.manager ? transactionExecutor(options.manager) : undefined;
    const { singletonKey, startAfterSeconds: startAfter } = options;
    if (singletonKey === undefined) return this.engine.send(name, data, { startAfter, db });
    // On a queue of pg-boss's standard policy (all of ours), send() keeps no key to one job:
    // only the jobs upsert() inserts are, by a unique index of their own.
    const { inserted, jobs } = await this.engine.upsert(name, data, {
      singletonKey,
      startAfter,
      db,
    });
    return inserted > 0 ? (jobs[0] ?? null) : null;
  }

  /** Queues many jobs in one statement; with `manager`, atomically with that transaction. */
  async sendMany<T extends object>(
    name: string,
    data: T[],
    options: SendManyOptions = {},
  ): Promise<void> {
    this.assertDefined(name);
    if (data.length === 0) return;
    const { priorityOf, keyOf } = options;
    await this.engine.insert(
      name,
      data.map((item, index) => ({
        data: item,
        ...(priorityOf ? { priority: priorityOf(index) } : {}),
        ...(keyOf ? { singletonKey: keyOf(index) } : {}),
      })),
      { db: options.manager ? transactionExecutor(options.manager) : undefined },
    );
  }

  /**
   * The first turn of the next jobs `group` queues in `name`, in `manager`'s transaction: give
   * its jobs the priorities -turn, -(turn + 1), … (SendManyOptions.priorityOf), and groups queueing
   * together take turns, a job each, whoever queued first and however much (see
   * QueuedJobsRepository.nextTurn). `group` is the value of `JOB_ORGANIZATION_KEY` in their data.
   */
  nextTurn(manager: EntityManager, name: string, group: string): Promise<number> {
    this.assertDefined(name);
    return this.queued.nextTurn(manager, name, JOB_ORGANIZATION_KEY, group);
  }

  /**
   * Whether any job of `names` whose data has `key` = `value` may still run: waiting (queued, or
   * for its retry) or running. In `manager`'s transaction. `keyed`: the waiting ones are those
   * queued with `value` as their key (SendManyOptions.keyOf), found by pg-boss's index of it
   * rather than by a scan of the queues' waiting jobs; a job queued without it (by an earlier
   * version) is missed, so a "none" is to be confirmed by a read that is not keyed.
   */
  anyPending(
    manager: EntityManager,
    names: string[],
    key: string,
    value: string,
    { keyed = false } = {},
  ): Promise<boolean> {
    for (const name of names) this.assertDefined(name);
    return this.queued.anyPending(manager, names, key, value, keyed);
  }

  /**
   * Those of `values` that no job of `names` whose data has `key` = that value may still run
   * (see {@link anyPending}, and its `keyed`), in one statement however many they are.
   */
  noneLeft(
    names: string[],
    key: string,
    values: string[],
    { keyed = false } = {},
  ): Promise<string[]> {
    for (const name of names) this.assertDefined(name);
    return this.queued.noneLeft(names, key, values, keyed);
  }

  /**
   * The distinct values of `field` in the data of the jobs of `name` failed for good (which an
   * admin may still retry: POST /jobs/{id}/retry) whose data has `key` = `value`. In `manager`'s
   * transaction.
   */
  failedValues(
    manager: EntityManager,
    name: string,
    key: string,
    value: string,
    field: string,
  ): Promise<string[]> {
    this.assertDefined(name);
    return this.queued.failedValues(manager, name, key, value, field);
  }

  /**
   * Cancels the jobs of `name` still waiting that were queued with key `key`
   * (SendManyOptions.keyOf), atomically with `manager`'s transaction; those running are left to
   * end. Returns how many were cancelled.
   */
  async cancelWaiting(manager: EntityManager, name: string, key: string): Promise<number> {
    this.assertDefined(name);
    const ids = await this.queued.lockWaiting(manager, name, key);
    if (ids.length === 0) return 0;
    await this.engine.cancel(name, ids, { db: transactionExecutor(manager) });
    return ids.length;
  }

  /** Asks this process's worker of `name` to look for jobs now (after a commit that queued some). */
  wake(name: string): void {
    const worker = this.workers.get(name);
    if (worker) this.engine.notifyWorker(worker);
  }

  async getJob<T extends object>(name: string, id: string): Promise<JobDetails<T> | null> {
    this.assertDefined(name);
    const job = await this.engine.getJobById<T>(name, id);
    return job;
  }

  /**
   * Puts a failed job back in its queue, kept for its queue's retention from now (see
   * QueuedJobsRepository.keepForRetry). Returns whether it was retried.
   */
  async retry(name: string, id: string): Promise<boolean> {
    this.assertDefined(name);
    // First, while it is failed: once put back it would already be one maintenance may delete.
    if (!(await this.queued.keepForRetry(name, id))) return false;
    // pg-boss's typings leave CommandResponse empty; its value carries `affected`.
    const result = (await this.engine.retry(name, id)) as { affected?: number };
    return (result.affected ?? 0) > 0;
  }

  /** Why a retry of the failed job of `name` with `data` would do nothing, or null. */
  nothingToRetry(name: string, data: unknown): Promise<string | null> {
    this.assertDefined(name);
    const check = this.definitions.get(name)?.nothingToRetry;
    return check ? check(data as object) : Promise.resolve(null);
  }

  queueNames(): string[] {
    return [...this.definitions.keys()];
  }

  /** The queues whose jobs every organisation's admins see (QueueDefinition.serviceWide). */
  serviceWideQueueNames(): string[] {
    return [...this.definitions.values()]
      .filter((definition) => definition.serviceWide || definition.schedule !== undefined)
      .map((definition) => definition.name);
  }

  private assertDefined(name: string): void {
    if (!this.definitions.has(name)) throw new Error(`Unknown queue ${name}`);
  }

  /**
   * Creates the queue, or brings one an earlier version created to this definition: pg-boss's
   * createQueue leaves an existing queue as it is, so a deployed queue would otherwise never get a
   * heartbeat, a dead letter queue or a retry limit added later; and the jobs queued before get
   * the first two (QueuedJobsRepository).
   */
  private async createQueue(definition: QueueDefinition<object>): Promise<void> {
    const options = {
      retryLimit: definition.retryLimit ?? 5,
      retryDelay: definition.retryDelaySeconds ?? 30,
      retryBackoff: true,
      retryDelayMax: definition.retryDelayMaxSeconds ?? 3600,
      expireInSeconds: definition.expireInSeconds ?? 900,
      // Only when set: pg-boss refuses a heartbeatSeconds that is there but undefined.
      ...(definition.heartbeat ? { heartbeatSeconds: this.config.JOB_HEARTBEAT_SECONDS } : {}),
      ...(definition.whenFailed ? { deadLetter: failedQueueOf(definition.name) } : {}),
    };
    await this.engine.createQueue(definition.name, options);
    await this.engine.updateQueue(definition.name, options);
    const adopted = await this.queued.adopt(definition.name, options);
    if (adopted > 0) {
      this.logger.log(
        { queue: definition.name, jobs: adopted },
        "Queued jobs given their queue's settings",
      );
    }
    // Schedules live in the database: one switched off (no schedule now) must be removed there.
    if (definition.schedule) await this.engine.schedule(definition.name, definition.schedule, {});
    else await this.engine.unschedule(definition.name);
  }

  private async work(definition: QueueDefinition<object>): Promise<void> {
    const id = await this.engine.work<object>(
      definition.name,
      {
        localConcurrency: definition.concurrency ?? this.config.JOB_CONCURRENCY,
        batchSize: 1,
        includeMetadata: this.deadLetterQueues.has(definition.name),
        pollingIntervalSeconds: this.config.JOB_POLL_INTERVAL_MS / 1000,
      },
      async ([job]) => (job ? this.runMeasured(definition, job) : undefined),
    );
    this.workers.set(definition.name, id);
  }

  /**
   * One attempt of a job, timed and, when it throws, counted as failed (job_duration_seconds).
   * A failure is logged in full (safely) here and handed to pg-boss reduced (jobFailure): pg-boss
   * stores what it is given with the job, and the jobs API shows it.
   */
  private async runMeasured(
    definition: QueueDefinition<object>,
    job: JobRecord<object>,
  ): Promise<object | void> {
    const started = performance.now();
    let failed = true;
    try {
      const output = await definition.handler(job.data, job);
      failed = false;
      return output;
    } catch (error) {
      const fields = { err: safeError(error), queue: definition.name, job: job.id };
      const message = `Job attempt ${job.retryCount + 1} failed`;
      if (isExpectedJobFailure(error)) this.logger.warn(fields, message);
      else this.logger.error(fields, message);
      throw jobFailure(error);
    } finally {
      this.metrics.observeJob(definition.name, (performance.now() - started) / 1000, failed);
      // pg-boss's worker waits out JOB_POLL_INTERVAL_MS after every job that took less, even with
      // more queued: a rebuild (one worker on an `all` instance) ran one image per 2 s. Woken, the
      // queue's first worker fetches again at once; when nothing is left, it goes back to waiting.
      this.wake(definition.name);
    }
  }
}

/** The queue pg-boss names with a worker's error (`{ ...error, queue, worker }`), if any. */
function engineErrorQueue(error: unknown): { queue?: string } {
  const queue = (error as { queue?: unknown } | null)?.queue;
  return typeof queue === 'string' ? { queue } : {};
}
