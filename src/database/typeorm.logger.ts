import { Logger as NestLogger } from '@nestjs/common';
import type { Logger as TypeOrmLoggerInterface, QueryRunner } from 'typeorm';

/**
 * TypeORM's messages through the application logger (structured, with the request id), instead of
 * TypeORM's coloured console output. Only errors, slow queries, schema and migration messages are
 * logged; query text is logged without its parameters, which may hold personal data.
 */
export class TypeOrmLogger implements TypeOrmLoggerInterface {
  private readonly logger = new NestLogger('TypeORM');

  logQuery(): void {
    // Every query at info level would drown the log; failures and slow queries are logged below.
  }

  logQueryError(
    error: string | Error,
    query: string,
    _parameters?: unknown[],
    _qr?: QueryRunner,
  ): void {
    this.logger.error({ err: error, query }, 'Query failed');
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
