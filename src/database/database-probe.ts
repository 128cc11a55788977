import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { ClientConfig, Pool } from 'pg';
import { DataSource } from 'typeorm';
import { withTimeout } from '../common/concurrency/with-timeout';
import { DatabaseClient } from './database-client';

/**
 * Whether the database answers, asked on a connection of the probe's own, outside the pool. A ping
 * through the pool waited for a free connection: with every one busy (slow statements, a large
 * import), the readiness probe timed out and answered 503 on every instance at once, so that a
 * load balancer would take them all out while the database answered. One connection, opened when
 * first needed and kept, and one ping at a time whoever asks (the probe is public: a flood of
 * probes shares it, never opening connections of its own). Embedded PostgreSQL (PGlite) has one
 * session and no pool: its ping goes through the data source.
 */
@Injectable()
export class DatabaseProbe implements OnModuleDestroy {
  private client: Promise<DatabaseClient> | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly dataSource: DataSource) {}

  /** Resolves when the database answered within `timeoutMs`; rejects otherwise. */
  ping(timeoutMs: number): Promise<void> {
    this.inFlight ??= withTimeout(this.pingOnce(), timeoutMs, 'database ping').finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  async onModuleDestroy(): Promise<void> {
    await this.discard();
  }

  private async pingOnce(): Promise<void> {
    const options = this.poolOptions();
    if (!options) {
      await this.dataSource.query('SELECT 1');
      return;
    }
    const reused = this.client !== undefined;
    try {
      await (await this.connected(options)).query('SELECT 1');
    } catch (error) {
      await this.discard();
      // A kept connection the server ended meanwhile (a restart, a failover): once more, anew.
      if (!reused) throw error;
      await (await this.connected(options)).query('SELECT 1');
    }
  }

  private connected(options: ClientConfig): Promise<DatabaseClient> {
    this.client ??= (async () => {
      const client = new DatabaseClient(options);
      // An end while idle is found out by the next ping's query.
      client.on('error', () => undefined);
      await client.connect();
      return client;
    })();
    return this.client;
  }

  private async discard(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.then((c) => c.end()).catch(() => undefined);
  }

  /** The pool's connection settings (TypeORM's postgres driver keeps the pool as `master`). */
  private poolOptions(): ClientConfig | undefined {
    const pool = (this.dataSource.driver as { master?: Partial<Pool> & { options?: ClientConfig } })
      .master;
    return pool?.options && typeof pool.totalCount === 'number' ? pool.options : undefined;
  }
}
