import {
  Module,
  type DynamicModule,
  type INestApplicationContext,
  type LoggerService,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { LoadedConfig } from '../config/app-config.module';
import { DatabaseModule } from './database.module';

/**
 * A CLI command's Nest application context: the configuration, the database and the one feature
 * module the command needs (not the whole service), closed once its work is done or has thrown.
 * Loaded by the CLI only when a command's options were checked.
 */
export async function withCliContext<T>(
  config: LoadedConfig,
  feature: Type | DynamicModule,
  logger: LoggerService,
  work: (app: INestApplicationContext) => Promise<T>,
): Promise<T> {
  @Module({ imports: [config.module, DatabaseModule, feature] })
  class CliModule {}
  const app = await NestFactory.createApplicationContext(CliModule, {
    logger,
    abortOnError: false,
  });
  try {
    return await work(app);
  } finally {
    await app.close();
  }
}
