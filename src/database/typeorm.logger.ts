import { Logger as NestLogger } from '@nestjs/common';
import type { Logger as TypeOrmLoggerInterface, QueryRunner } from 'typeorm';
import { RepeatLimiter } from '../common/logging/repeat-limiter';
import { safeError } from '../common/logging/safe-error';
import { isStatementCancelled } from './pg-errors';

/**
 * TypeORM's messages through the application logger (structured, with the request id), instead of
 * TypeORM's coloured console output: slow queries, schema and migration messages; query text
 * without its parameters, which may hold personal data or secrets.
 */
/** Distinct statements whose cancellations are counted apart (the job queue's polls are a few). */
const CANCELLED_STATEMENTS_KEPT = 100;

export class TypeOrmLogger implements TypeOrmLoggerInterface {
  private readonly logger = new NestLogger('TypeORM');
  /** Per statement text: a lock held long cancels the same poll many times a second. */
  private readonly cancelled = new Map<string, RepeatLimiter>();

  logQuery(): void {
    // Every query at info level would drown the log.
  }

  /**
   * Debug level only: most failures are expected and handled (a unique violation becomes a 409),
   * and an unexpected one is logged by the exception filter. Parameters and PostgreSQL's detail
   * are never logged: they hold passwords, hashes and emails. A statement the server cancelled
   * (DATABASE_STATEMENT_TIMEOUT_MS) is a warning, with its text: the operator needs to know which.
   */
  logQueryError(
    error: string | Error,
    query: string,
    _params?: unknown[],
    _qr?: QueryRunner,
  ): void {
    if (isStatementCancelled(error)) {
      const held = this.limiterFor(query).take();
      if (held === undefined) return;
      this.logger.warn(
        { err: safeError(error), query, held_back: held },
        'Statement cancelled by the database (each statement logged at most once a minute)',
      );
      return;
    }
    this.logger.debug({ err: safeError(error), query }, 'Query failed');
  }

  private limiterFor(query: string): RepeatLimiter {
    let limiter = this.cancelled.get(query);
    if (!limiter) {
      if (this.cancelled.size >= CANCELLED_STATEMENTS_KEPT) this.cancelled.clear();
      limiter = new RepeatLimiter(60_000);
      this.cancelled.set(query, limiter);
    }
    return limiter;
  }

  logQuerySlow(time: number, query: string): void {
    this.logger.warn({ duration_ms: time, query }, 'Slow query');
  }

  logSchemaBuild(message: string): void {
    this.logger.log(message);
  }

  logMigration(message: string): void {
    this.logger.log(message);
  }

  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    if (level === 'warn') this.logger.warn(message);
    else this.logger.log(message);
  }
}
