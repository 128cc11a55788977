import { Module, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { loadAppConfig } from '../config/app-config.module';
import { DatabaseModule } from '../database/database.module';
import { AccountsService } from './accounts.service';
import { AuthModule } from './auth.module';

/**
 * The accounts' stack (configuration, database, AuthModule) for a CLI command whose options were
 * checked: loaded by the CLI only then, so that a usage error or --help costs no database code.
 */
export async function withAccounts(
  logger: LoggerService,
  work: (accounts: AccountsService, database: DataSource) => Promise<void>,
): Promise<void> {
  const config = await loadAppConfig();
  // The commands count no logins: the login limits' Redis (REDIS_URL, which AuthModule's
  // throttler would connect to and stop at when down) is not theirs to need. A password reset in
  // an outage of it worked in none, and each run opened a connection it never used.
  config.env.REDIS_URL = undefined;
  @Module({ imports: [config.module, DatabaseModule, AuthModule] })
  class CliModule {}
  const app = await NestFactory.createApplicationContext(CliModule, {
    logger,
    abortOnError: false,
  });
  try {
    await work(app.get(AccountsService), app.get(DataSource));
  } finally {
    await app.close();
  }
}
