import { Controller, Get, Inject, Logger } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
  type SchemaObject,
} from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { HealthCheckResult, HealthIndicatorResult } from '@nestjs/terminus';
import { Public } from '../auth/decorators';
import { withTimeout } from '../common/concurrency/with-timeout';
import { RepeatLimiter } from '../common/logging/repeat-limiter';
import { safeError } from '../common/logging/safe-error';
import { DatabaseProbe } from '../database/database-probe';
import { checkSpoolWritable, uploadTempDir } from '../images/intake/upload-spool';
import { STORAGE_PROVIDER, type StorageProvider } from '../storage/storage-provider';
import { ApiProblems } from '../openapi/problems';
import { HEALTH_CONFIG, type HealthConfig } from './health.config';

const CHECK_TIMEOUT_MS = 3000;

/** While a check keeps failing, its reason is logged again at most this often. */
const FAILURE_LOG_INTERVAL_MS = 60_000;

/**
 * The log of one readiness check: its first failure, with the reason; then, while it keeps
 * failing, one line a minute saying how many were not written (`held_back`); and one line when it
 * passes again. The probe is public and polled by every load balancer: a line (with a stack) per
 * failed probe was as many lines as anyone cared to ask for, for one fact.
 */
class CheckLog {
  private limiter: RepeatLimiter | undefined;
  private held = 0;

  constructor(
    private readonly logger: Logger,
    private readonly name: string,
  ) {}

  failed(error: unknown): void {
    this.limiter ??= new RepeatLimiter(FAILURE_LOG_INTERVAL_MS);
    const held = this.limiter.take();
    if (held === undefined) {
      this.held++;
      return;
    }
    const fields = { err: safeError(error), ...(held > 0 ? { held_back: held } : {}) };
    this.logger.warn(fields, `${this.name} readiness check failed`);
  }

  passed(): void {
    if (!this.limiter) return;
    this.logger.log({ held_back: this.held }, `${this.name} readiness check passes again`);
    this.limiter = undefined;
    this.held = 0;
  }
}

/**
 * A dependency's check, run once for all the probes arriving while it runs (the probe is public:
 * a flood of probes was as many calls to the storage's API, S3 requests or Cloudinary's hourly
 * quota), cut at CHECK_TIMEOUT_MS, its outcome logged by a CheckLog. Answers whether it passed;
 * the reason goes to the log only (the probe must not describe our setup).
 */
class SharedCheck {
  private inFlight: Promise<unknown> | undefined;
  private readonly log: CheckLog;
  private readonly label: string;

  constructor(
    logger: Logger,
    name: string,
    private readonly check: () => Promise<unknown>,
  ) {
    this.log = new CheckLog(logger, name);
    this.label = `${name.toLowerCase()} check`;
  }

  async passes(): Promise<boolean> {
    try {
      this.inFlight ??= withTimeout(this.check(), CHECK_TIMEOUT_MS, this.label).finally(() => {
        this.inFlight = undefined;
      });
      await this.inFlight;
      this.log.passed();
      return true;
    } catch (error) {
      this.log.failed(error);
      return false;
    }
  }
}

/** Each dependency checked, by name, with its `status` (the storage's with its `driver`). */
const CHECKS_SCHEMA = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    required: ['status'],
    properties: { status: { type: 'string', enum: ['up', 'down'] } },
    additionalProperties: true,
  },
  example: {
    database: { status: 'up' },
    storage: { status: 'up', driver: 's3' },
    spool: { status: 'up' },
  },
} satisfies SchemaObject;

/** Terminus' report when every check passed (a failed one is a 503 problem, `not_ready`). */
const READY_SCHEMA = {
  type: 'object',
  required: ['status', 'info', 'error', 'details'],
  properties: {
    status: { type: 'string', enum: ['ok'] },
    info: CHECKS_SCHEMA,
    error: { ...CHECKS_SCHEMA, example: {} },
    details: CHECKS_SCHEMA,
  },
} satisfies SchemaObject;

@Public()
@ApiTags('health')
@Controller('health')
export class HealthController {
  private readonly logger = new Logger(HealthController.name);
  private readonly databaseLog = new CheckLog(this.logger, 'Database');
  // Ended when the probe gives up on it, not at STORAGE_TIMEOUT_MS: each probe after one given up
  // starts a check of its own, and in an outage one stayed open per probe (on S3, a connection).
  private readonly storageShared = new SharedCheck(this.logger, 'Storage', () =>
    this.storage.check({ signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) }),
  );
  private readonly spoolShared = new SharedCheck(this.logger, 'Upload spool', () =>
    checkSpoolWritable(this.spoolDir),
  );
  private readonly spoolDir: string;

  constructor(
    private readonly health: HealthCheckService,
    private readonly database: DatabaseProbe,
    private readonly indicators: HealthIndicatorService,
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
    @Inject(HEALTH_CONFIG) config: HealthConfig,
  ) {
    this.spoolDir = uploadTempDir(config);
  }

  /** Liveness: the process is up and serving HTTP. Checks nothing else, so it never flaps. */
  @Get()
  @ApiOperation({
    operationId: 'getLiveness',
    summary: 'Liveness probe',
    description:
      'Answers 200 while the process serves requests, whatever its dependencies do; no credential.',
  })
  @ApiOkResponse({
    schema: {
      type: 'object',
      required: ['status'],
      properties: { status: { type: 'string', enum: ['ok'] } },
    },
  })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: every dependency needed to serve requests answers. */
  @Get('ready')
  // Not Terminus' documentation: its 503 is a report in application/json, which the exception
  // filter never sends (a failed check is answered as problem+json, not_ready).
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @ApiOperation({
    operationId: 'getReadiness',
    summary: 'Readiness probe (database, storage, upload spool)',
    description:
      'Answers 200 when the database and the storage answer and the upload spool can be ' +
      'written, else 503 `not_ready`; no credential.',
  })
  @ApiOkResponse({ description: 'Every dependency answers', schema: READY_SCHEMA })
  @ApiServiceUnavailableResponse({
    description: 'A dependency is down (problem+json, `not_ready`)',
  })
  @ApiProblems('not_ready')
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.databaseCheck(),
      () => this.storageCheck(),
      () => this.spoolCheck(),
    ]);
  }

  /** The database answers a ping. Its error (which names hosts and ports) goes to the log only. */
  private async databaseCheck(): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check('database');
    try {
      // On a connection of its own: a busy pool is not the database failing (DatabaseProbe).
      await this.database.ping(CHECK_TIMEOUT_MS);
      this.databaseLog.passed();
      return indicator.up();
    } catch (error) {
      this.databaseLog.failed(error);
      return indicator.down();
    }
  }

  /**
   * The storage answers (bucket reachable with our credentials, Cloudinary ping, disk root). One
   * check at a time whoever asks, as the database's ping: the probe is public, and a flood of
   * probes was as many calls to the storage's API (S3 requests, Cloudinary's hourly quota).
   */
  private async storageCheck(): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check('storage');
    const details = { driver: this.storage.driver };
    return (await this.storageShared.passes()) ? indicator.up(details) : indicator.down(details);
  }

  /**
   * The upload spool's folder can be made and written, as the start checks: one made unusable
   * while running (its disk gone or read-only, a file in its place) fails every upload, import
   * and new transform result (503 upload_spool_unavailable) until an operator repairs it, so the
   * instance leaves the rotation meanwhile. A full spool passes (an empty file needs no room): it
   * is most often the uploads in flight, freed as they end, and taking the instance out for it
   * would also take away the reads it still serves; uploads get 503 upload_spool_full instead.
   */
  private async spoolCheck(): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check('spool');
    return (await this.spoolShared.passes()) ? indicator.up() : indicator.down();
  }
}
