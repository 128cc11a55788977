import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { METRICS_CONFIG, type MetricsConfig } from './metrics.config';
import { Metrics, type PoolUsage } from './metrics.service';

/** What node-postgres's Pool counts (TypeORM's postgres driver keeps it as `master`). */
interface PgPool {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
}

function isPgPool(pool: unknown): pool is PgPool {
  return typeof (pool as Partial<PgPool> | undefined)?.totalCount === 'number';
}

/**
 * The database connection pool's usage, read at each scrape from node-postgres's own counters.
 * The embedded database (no DATABASE_URL) has one session, lent to one caller at a time: one
 * connection, always open; who waits for it is not counted there.
 */
@Injectable()
export class DatabasePoolCollector implements OnModuleInit {
  constructor(
    private readonly metrics: Metrics,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(METRICS_CONFIG) private readonly config: MetricsConfig,
  ) {}

  onModuleInit(): void {
    this.metrics.watchDatabasePool(() => this.usage());
  }

  private usage(): PoolUsage {
    if (!this.config.DATABASE_URL) return { max: 1, open: 1 };
    const pool = (this.dataSource.driver as { master?: unknown }).master;
    if (!isPgPool(pool)) return { max: this.config.DATABASE_POOL_SIZE, open: 0 };
    return {
      max: this.config.DATABASE_POOL_SIZE,
      open: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    };
  }
}
