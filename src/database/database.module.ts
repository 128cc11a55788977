import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { EnvironmentVariables } from '../config/env.validation';
import { buildDataSourceOptions } from './data-source.options';
import { runPendingMigrations } from './run-migrations';

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [EnvironmentVariables],
      useFactory: (env: EnvironmentVariables) => ({
        ...buildDataSourceOptions(env),
        migrationsRun: env.MIGRATIONS_RUN,
        // Fail fast at start-up: an unreachable database is a configuration error, not a retry loop.
        retryAttempts: 0,
      }),
      // TypeORM's own migrationsRun takes no lock; run them here under an advisory lock instead.
      dataSourceFactory: async (options?: DataSourceOptions) => {
        if (!options) throw new Error('DataSource options missing');
        const dataSource = await new DataSource({ ...options, migrationsRun: false }).initialize();
        if (options.migrationsRun) await runPendingMigrations(dataSource);
        return dataSource;
      },
    }),
  ],
})
export class DatabaseModule {}
