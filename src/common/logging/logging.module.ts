import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { loggerParams } from './logger-params';
import { LOGGING_CONFIG, loggingConfigProvider } from './logging.config';

/**
 * Logs through pino (JSON lines, or readable ones on a terminal; see LOG_FORMAT) with the request
 * id on every line and credentials removed; one line per request.
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      providers: [loggingConfigProvider],
      inject: [LOGGING_CONFIG],
      useFactory: loggerParams,
    }),
  ],
})
export class LoggingModule {}
