import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { withTimeout } from '../common/concurrency/with-timeout';
import { ImageStepsTimer } from './image-steps.timer';

/** What the image processing slots hold now (common/concurrency/bounded-semaphore.ts). */
export interface ProcessingQueueDepth {
  active: number;
  queued: number;
  queuedBytes: number;
}

/** Jobs of one queue in one state, as counted at scrape time. */
export interface JobCount {
  queue: string;
  state: string;
  count: number;
}

/** A connection pool's numbers; `idle` and `waiting` where the pool knows them. */
export interface PoolUsage {
  max: number;
  open: number;
  idle?: number;
  waiting?: number;
}

/** What an operation took: `outcome` says whether it failed. */
type Outcome = 'ok' | 'error' | 'aborted';

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const STEP_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const JOB_SECONDS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900];
/** 16 KiB to 64 MiB, ×4: thumbnails to the largest uploads a deployment allows. */
const UPLOAD_BYTES = [16, 64, 256, 1024, 4096, 16_384, 65_536].map((kib) => kib * 1024);

/**
 * The process metrics (CPU, memory, event loop, GC, handles): one set per process, whatever the
 * number of applications in it (tests start several), since prom-client's collectors start
 * monitors of their own (an event-loop delay histogram, a GC observer) that are never stopped.
 * Started by the first scrape, so a process nobody scrapes runs none of them; the GC counters
 * count from then, which rates do not mind.
 */
let processRegistry: Registry | undefined;

/** How long a scrape waits for a gauge read at scrape time (a database count). */
export const WATCHED_READ_TIMEOUT_MS = 2000;

function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
    countCpuFromStart(processRegistry);
  }
  return processRegistry;
}

/**
 * prom-client counts the process's CPU from when its collectors were registered (here the first
 * scrape, so that scrape said 0 and every later one left out start-up's CPU); Prometheus's other
 * clients count from the process's start, as `process.cpuUsage()` does. Its three counters are
 * replaced by ones set from that at each scrape.
 */
function countCpuFromStart(registry: Registry): void {
  const cpu: [string, string, (usage: NodeJS.CpuUsage) => number][] = [
    ['process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', (u) => u.user],
    [
      'process_cpu_system_seconds_total',
      'Total system CPU time spent in seconds.',
      (u) => u.system,
    ],
    [
      'process_cpu_seconds_total',
      'Total user and system CPU time spent in seconds.',
      (u) => u.user + u.system,
    ],
  ];
  for (const [name, help, micros] of cpu) {
    registry.removeSingleMetric(name);
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(micros(process.cpuUsage()) / 1e6);
      },
    });
  }
}

/**
 * The service's metrics, one registry per application, in the Prometheus text format (GET
 * /metrics, metrics.controller.ts). The one place that knows the metric families: the features
 * report what they did through the methods below (a few numbers and bounded labels: route
 * patterns, queue and step names, never ids or URLs), and what is read at scrape time (queue
 * depth, job counts, pool usage) they hand over as a source to call then. prom-client stays here.
 */
@Injectable()
export class Metrics {
  /** The Prometheus text format, version 0.0.4. */
  static readonly CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

  private readonly registry = new Registry();
  private readonly httpSeconds = this.histogram(
    'http_request_duration_seconds',
    'HTTP requests by method, route pattern and status, from arrival to the last byte sent.',
    ['method', 'route', 'status_code'],
    SECONDS,
  );
  private readonly uploadBytes = this.histogram(
    'image_upload_bytes',
    'Sizes of the image files taken for processing: uploads and imports (and rendition rebuilds, which read their original again).',
    [],
    UPLOAD_BYTES,
  );
  private readonly stepSeconds = this.histogram(
    'image_processing_duration_seconds',
    'Image processing by step (inspect, strip, decode, fill, original, renditions, animation, transform) and source format.',
    ['step', 'format'],
    STEP_SECONDS,
  );
  private readonly waitSeconds = this.histogram(
    'image_processing_wait_seconds',
    'Time an image waited for a processing slot.',
    [],
    SECONDS,
  );
  private readonly readWaitSeconds = this.histogram(
    'image_transform_read_wait_seconds',
    'Time a transform result waited for its turn to read its original (TRANSFORM_READ_CONCURRENCY), refused or left included.',
    [],
    SECONDS,
  );
  private readonly busy = this.counter(
    'image_processing_server_busy_total',
    'Images refused with 503 server_busy because the processing queue was full, by operation (process: uploads, imports, rebuilds; transform: images made on request).',
    ['operation'],
  );
  private readonly svgStopped = this.counter(
    'image_svg_renders_stopped_total',
    'SVG renders killed at SVG_RENDER_TIMEOUT_MS (timeout) or SVG_RENDER_MAX_BYTES (memory): 400 image_too_complex.',
    ['reason'],
  );
  private readonly refusedRequests = this.counter(
    'http_requests_refused_total',
    "Requests Node's HTTP parser refused before any route saw them (so not in http_request_duration_seconds), by reason: malformed (400: not HTTP, or cut off mid-request), headers_too_large (431) or timeout (408: headers not in within HTTP_HEADERS_TIMEOUT_MS). A request a route saw, whose client then left or stalled, is not one of them.",
    ['reason'],
  );
  private readonly storageSeconds = this.histogram(
    'storage_operation_duration_seconds',
    'Storage operations by provider and operation, failed ones included.',
    ['provider', 'operation', 'outcome'],
    SECONDS,
  );
  private readonly storageErrors = this.counter(
    'storage_operation_errors_total',
    'Storage operations that failed, by provider and operation.',
    ['provider', 'operation'],
  );
  private readonly jobSeconds = this.histogram(
    'job_duration_seconds',
    'Job attempts this process ran, by queue and outcome (completed or failed).',
    ['queue', 'outcome'],
    JOB_SECONDS,
  );
  private readonly jobFailures = this.counter(
    'job_failures_total',
    'Job attempts that failed in this process, by queue (each retry counts).',
    ['queue'],
  );

  // --- HTTP -----------------------------------------------------------------------------------

  observeHttpRequest(method: string, route: string, status: number, seconds: number): void {
    this.httpSeconds.observe({ method, route, status_code: status }, seconds);
  }

  countRefusedRequest(reason: 'malformed' | 'headers_too_large' | 'timeout'): void {
    this.refusedRequests.inc({ reason });
  }

  // --- Images ---------------------------------------------------------------------------------

  observeUpload(bytes: number): void {
    this.uploadBytes.observe(bytes);
  }

  /** A timer for the steps of one image's processing, started now. */
  imageSteps(): ImageStepsTimer {
    return new ImageStepsTimer((step, format, seconds) =>
      this.stepSeconds.observe({ step, format }, seconds),
    );
  }

  observeProcessingWait(seconds: number): void {
    this.waitSeconds.observe(seconds);
  }

  observeTransformReadWait(seconds: number): void {
    this.readWaitSeconds.observe(seconds);
  }

  countServerBusy(operation: 'process' | 'transform'): void {
    this.busy.inc({ operation });
  }

  countSvgRenderStopped(reason: 'timeout' | 'memory'): void {
    this.svgStopped.inc({ reason });
  }

  /** The processing queue's depth, read at each scrape. */
  watchProcessingQueue(read: () => ProcessingQueueDepth): void {
    this.watched(
      'image_processing_queue_depth',
      'Images waiting for a processing slot.',
      [],
      read,
      (gauge, depth) => gauge.set(depth.queued),
    );
    this.watched(
      'image_processing_queued_bytes',
      'Bytes of the images waiting.',
      [],
      read,
      (gauge, depth) => gauge.set(depth.queuedBytes),
    );
    this.watched(
      'image_processing_active',
      'Images being processed now.',
      [],
      read,
      (gauge, depth) => gauge.set(depth.active),
    );
  }

  /**
   * The reads of transform URLs' originals (ImageProcessor.transformRead): under way or read and
   * waiting for a processing slot (`active`), and waiting to start (`queued`).
   */
  watchTransformReads(read: () => { active: number; queued: number }): void {
    this.watched(
      'image_transform_reads_active',
      'Originals of transform results being read, or read and waiting for a processing slot.',
      [],
      read,
      (gauge, reads) => gauge.set(reads.active),
    );
    this.watched(
      'image_transform_reads_queued',
      'Transform results waiting to read their original.',
      [],
      read,
      (gauge, reads) => gauge.set(reads.queued),
    );
  }

  // --- Storage --------------------------------------------------------------------------------

  /** `aborted`: ended by its caller (its clients gone), not counted as an error. */
  observeStorage(provider: string, operation: string, seconds: number, outcome: Outcome): void {
    this.storageSeconds.observe({ provider, operation, outcome }, seconds);
    if (outcome === 'error') this.storageErrors.inc({ provider, operation });
  }

  // --- Jobs -----------------------------------------------------------------------------------

  observeJob(queue: string, seconds: number, failed: boolean): void {
    this.jobSeconds.observe({ queue, outcome: failed ? 'failed' : 'completed' }, seconds);
    if (failed) this.jobFailures.inc({ queue });
  }

  /**
   * Jobs by queue and state in the database, counted at each scrape. The query waits for the
   * scrape's other reads: the pool's counters would count it waiting for its connection.
   */
  watchJobCounts(read: () => Promise<JobCount[]>): void {
    this.watched(
      'job_queue_jobs',
      'Jobs in the database by queue and state (created, retry, active, failed), counted at scrape time.',
      ['queue', 'state'],
      async () => {
        await new Promise((resolve) => setImmediate(resolve));
        return read();
      },
      (gauge, counts) => {
        for (const { queue, state, count } of counts) gauge.set({ queue, state }, count);
      },
    );
  }

  // --- Database -------------------------------------------------------------------------------

  /** The connection pool's usage, read at each scrape. */
  watchDatabasePool(read: () => PoolUsage): void {
    const watch = (name: string, help: string, value: (pool: PoolUsage) => number | undefined) =>
      this.watched(name, help, [], read, (gauge, pool) => {
        const n = value(pool);
        if (n !== undefined) gauge.set(n);
      });
    watch('db_pool_max_connections', 'Connections the pool may open.', (pool) => pool.max);
    watch('db_pool_open_connections', 'Connections open now, idle or in use.', (pool) => pool.open);
    watch('db_pool_idle_connections', 'Open connections not in use.', (pool) => pool.idle);
    watch('db_pool_waiting_clients', 'Callers waiting for a connection.', (pool) => pool.waiting);
  }

  // --- Exposition -----------------------------------------------------------------------------

  /** Every family, the process's and this application's, in the Prometheus text format. */
  async scrape(): Promise<string> {
    const [ofProcess, ofApp] = await Promise.all([
      processMetrics().metrics(),
      this.registry.metrics(),
    ]);
    return `${ofProcess}\n${ofApp}`;
  }

  private histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets: number[],
  ): Histogram<L> {
    return new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
  }

  private counter<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
  ): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  /**
   * A gauge whose samples `set` takes from `read` at each scrape. A failed read, or one slower
   * than WATCHED_READ_TIMEOUT_MS, leaves it empty for that scrape: a scrape must neither fail nor
   * outlast Prometheus's scrape timeout because the database is out of reach.
   */
  private watched<L extends string, T>(
    name: string,
    help: string,
    labelNames: readonly L[],
    read: () => T | Promise<T>,
    set: (gauge: Gauge<L>, value: T) => void,
  ): void {
    new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        this.reset();
        try {
          set(this, await withTimeout(Promise.resolve(read()), WATCHED_READ_TIMEOUT_MS, name));
        } catch {
          // Left empty (see above).
        }
      },
    });
  }
}
