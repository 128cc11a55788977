import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { buildDataSourceOptions } from './data-source.options';
import { DATABASE_CONFIG, databaseConfigProvider, type DatabaseConfig } from './database.config';
import { safeError } from '../common/logging/safe-error';
import { refuseIfMigrationsPending, runPendingMigrations } from './run-migrations';

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      extraProviders: [databaseConfigProvider],
      inject: [DATABASE_CONFIG],
      useFactory: (config: DatabaseConfig) => ({
        ...buildDataSourceOptions(config),
        migrationsRun: config.MIGRATIONS_RUN,
        // Fail fast at start-up: an unreachable database is a configuration error, not a retry loop.
        retryAttempts: 0,
        // And say so once, in the error below: retried, @nestjs/typeorm first logs "Unable to
        // connect to the database. Retrying (1)...", a retry that never comes.
        toRetry: () => false,
      }),
      // TypeORM's own migrationsRun takes no lock; run them here under an advisory lock instead.
      dataSourceFactory: async (options?: DataSourceOptions) => {
        if (!options) throw new Error('DataSource options missing');
        const dataSource = await new DataSource({ ...options, migrationsRun: false })
          .initialize()
          .catch((error: unknown) => {
            // Named as storage and Redis name theirs; the URL is never echoed (its password).
            const which =
              'url' in options && options.url ? 'DATABASE_URL' : 'embedded, in DATA_DIR';
            throw new Error(`Database (${which}) is not usable: ${safeError(error).message}`, {
              cause: error,
            });
          });
        try {
          if (options.migrationsRun) await runPendingMigrations(dataSource);
          else await refuseIfMigrationsPending(dataSource);
        } catch (error) {
          // Closed, so that nothing holds the database (the embedded one is this process's).
          await dataSource.destroy().catch(() => undefined);
          throw error;
        }
        return dataSource;
      },
    }),
  ],
})
export class DatabaseModule {}
