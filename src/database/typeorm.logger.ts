import { Logger as NestLogger } from '@nestjs/common';
import type { Logger as TypeOrmLoggerInterface, QueryRunner } from 'typeorm';
import { safeError } from '../common/logging/safe-error';
import { isStatementCancelled } from './pg-errors';

/**
 * TypeORM's messages through the application logger (structured, with the request id), instead of
 * TypeORM's coloured console output: slow queries, schema and migration messages; query text
 * without its parameters, which may hold personal data or secrets.
 */
export class TypeOrmLogger implements TypeOrmLoggerInterface {
  private readonly logger = new NestLogger('TypeORM');

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
      this.logger.warn({ err: safeError(error), query }, 'Statement cancelled by the database');
      return;
    }
    this.logger.debug({ err: safeError(error), query }, 'Query failed');
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
