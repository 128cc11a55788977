import { Module } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { EnvironmentVariables } from '../../config/env.validation';
import { REDACTED, REDACTED_LOG_PATHS, redactUrl } from './redact';

/** Structured JSON logs (pino) with the request id on every line and credentials removed. */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [EnvironmentVariables],
      useFactory: (env: EnvironmentVariables) => ({
        pinoHttp: {
          level: env.LOG_LEVEL,
          genReqId: (req: IncomingMessage) => (req as IncomingMessage & { id: string }).id,
          redact: { paths: REDACTED_LOG_PATHS, censor: REDACTED },
          customLogLevel: (_req: IncomingMessage, res: ServerResponse, err?: Error) =>
            err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
          // Liveness probes every few seconds would drown the log.
          autoLogging: { ignore: (req: IncomingMessage) => req.url === '/health' },
          serializers: {
            req: (req: { id: string; method: string; url: string; headers: unknown }) => ({
              id: req.id,
              method: req.method,
              url: redactUrl(req.url),
              headers: req.headers,
            }),
            res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
          },
        },
      }),
    }),
  ],
})
export class LoggingModule {}
