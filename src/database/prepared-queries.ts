import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Inject, Injectable } from '@nestjs/common';
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { DataSource, QueryFailedError } from 'typeorm';
import { DATABASE_CONFIG, type DatabaseConfig } from './database.config';

/**
 * How many distinct statements are prepared at most (each connection may end up holding all of
 * them); any text beyond runs unnamed, as every other query does.
 */
export const MAX_PREPARED_STATEMENTS = 200;

/**
 * What PostgreSQL answers when a connection no longer holds a statement node-postgres prepared on
 * it: 26000, gone (someone ran DEALLOCATE or DISCARD ALL on it); 0A000, "cached plan must not change
 * result type" (a migration changed a selected column's type while this process ran).
 */
const STALE_STATEMENT = new Set(['26000', '0A000']);

/** node-postgres's client-side record of the statements a connection has prepared. */
interface PreparedOn {
  connection?: {
    parsedStatements?: Record<string, string>;
    submittedNamedStatements?: Record<string, string>;
  };
}

/** The statement's name: from its text, so every process and connection names it alike. Pure. */
export function preparedStatementName(text: string): string {
  return `pis_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
}

/**
 * The hottest reads (a gallery page, a product by key: every gallery GET runs both) as named
 * prepared statements on a PostgreSQL server: the server parses and plans each once per connection
 * instead of on every request, and the query goes straight to node-postgres's pool instead of
 * through a TypeORM query runner. That took the 10-image gallery GET from about 0.5× to 0.6× a
 * minimal Fastify + pg server sending the same two queries unnamed (bench/, gallery-only runs);
 * reading the product with the page in one statement (GalleryRepository.readProductPage) took it
 * to about 0.7×. A read inside a transaction keeps that transaction's EntityManager instead.
 *
 * TypeORM has no named statements, and node-postgres's own (`{ name, text, values }`) is what is
 * used here; this class only names them, bounds how many there are, and keeps what TypeORM's
 * queries do around a query: a failure is a QueryFailedError (so pg-errors.ts maps a lost
 * connection to 503 as anywhere else), a slow query is logged. On the embedded database (one
 * session, no pool to speak of) and with DATABASE_PREPARED_STATEMENTS=false (a pooler in
 * transaction mode that does not keep prepared statements), it runs the query through TypeORM.
 */
@Injectable()
export class PreparedQueries {
  private readonly pool: Pool | undefined;
  private readonly names = new Map<string, string>();

  constructor(
    private readonly dataSource: DataSource,
    @Inject(DATABASE_CONFIG) config: DatabaseConfig,
  ) {
    const prepared = config.DATABASE_URL !== undefined && config.DATABASE_PREPARED_STATEMENTS;
    // TypeORM's PostgresDriver keeps node-postgres's pool as `master`.
    this.pool = prepared ? (dataSource.driver as unknown as { master: Pool }).master : undefined;
  }

  /** The rows `text` selects with `values` ($1, $2, … in the text). */
  async query<T extends QueryResultRow>(text: string, values: unknown[]): Promise<T[]> {
    const name = this.pool ? this.nameOf(text) : undefined;
    if (!this.pool || name === undefined) return this.dataSource.query<T[]>(text, values);
    const started = performance.now();
    let client: PoolClient | undefined;
    let failure: Error | undefined;
    // The server's end of the connection arriving while no query runs on it (after the last
    // answer, before the release) is dropped by DatabaseClient, and the pool retires the client,
    // which node-postgres has marked not queryable, on its release.
    try {
      client = await this.pool.connect();
      return await this.run<T>(client, name, text, values);
    } catch (error) {
      failure = error as Error;
      this.dataSource.logger.logQueryError(failure, text, values);
      throw new QueryFailedError(text, values, failure);
    } finally {
      // After a failure the connection is closed rather than reused, as node-postgres's own
      // pool.query does: whatever went wrong, no later request meets it.
      client?.release(failure);
      // Logged slow past the DataSource's own threshold, as TypeORM's queries are.
      const ms = performance.now() - started;
      const slow = this.dataSource.options.maxQueryExecutionTime;
      if (slow && ms > slow) this.dataSource.logger.logQuerySlow(Math.round(ms), text, values);
    }
  }

  /**
   * Runs the statement on `client`; if the connection no longer holds it as node-postgres believes
   * (see STALE_STATEMENT), forgets it there, deallocates what is left of it, and prepares it again
   * once.
   */
  private async run<T extends QueryResultRow>(
    client: PoolClient,
    name: string,
    text: string,
    values: unknown[],
  ): Promise<T[]> {
    try {
      return (await client.query<T>({ name, text, values })).rows;
    } catch (error) {
      if (!STALE_STATEMENT.has((error as { code?: string }).code ?? '')) throw error;
      const connection = (client as PreparedOn).connection;
      delete connection?.parsedStatements?.[name];
      delete connection?.submittedNamedStatements?.[name];
      await client.query(`DEALLOCATE ${name}`).catch(() => undefined);
      return (await client.query<T>({ name, text, values })).rows;
    }
  }

  private nameOf(text: string): string | undefined {
    let name = this.names.get(text);
    if (name === undefined && this.names.size < MAX_PREPARED_STATEMENTS) {
      name = preparedStatementName(text);
      this.names.set(text, name);
    }
    return name;
  }
}
