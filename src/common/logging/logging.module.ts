import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { EnvironmentVariables } from '../../config/env.validation';
import { loggerParams } from './logger-params';

/**
 * Logs through pino (JSON lines, or readable ones on a terminal; see LOG_FORMAT) with the request
 * id on every line and credentials removed; one line per request.
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [EnvironmentVariables],
      useFactory: (env: EnvironmentVariables) => loggerParams(env),
    }),
  ],
})
export class LoggingModule {}
