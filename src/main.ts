import 'reflect-metadata';
import { Logger } from 'nestjs-pino';
import { createApp } from './app.factory';
import { AdminBootstrapService } from './auth/admin-bootstrap.service';
import { ConfigValidationError, EnvironmentVariables, ServiceRole } from './config/env.validation';
import { DOCS_PATH } from './openapi/openapi';

async function bootstrap(): Promise<void> {
  const app = await createApp();
  const env = app.get(EnvironmentVariables);
  const logger = app.get(Logger);

  // Graceful shutdown: stop accepting connections, let in-flight requests finish, close the
  // database, exit 0. A second signal or the timeout forces the exit.
  let closing = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (closing) {
      logger.warn(`Received ${signal} again; exiting now`);
      process.exit(1);
    }
    closing = true;
    logger.log(`Received ${signal}; shutting down gracefully`);
    const timer = setTimeout(() => {
      logger.error(`Shutdown did not finish within ${env.SHUTDOWN_TIMEOUT_MS} ms; exiting`);
      process.exit(1);
    }, env.SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'Shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  await app.listen({ port: env.PORT, host: env.HOST });
  const shown = env.HOST === '0.0.0.0' || env.HOST === '::' ? 'localhost' : env.HOST;
  const base = `http://${shown.includes(':') ? `[${shown}]` : shown}:${env.PORT}`;
  logger.log(`Listening on ${base} ${ROLE_LINES[env.SERVICE_ROLE](base)}`);
  // A worker has no API to log in to: the first administrator is made, and a generated password
  // printed, by a process that serves it.
  if (env.SERVICE_ROLE === ServiceRole.Worker) return;
  // Only now that start-up has succeeded: a generated password printed by a start that then
  // failed would be lost with the failure (see AdminBootstrapService).
  await app.get(AdminBootstrapService).ensureFirstAdministrator();
}

/** The rest of the start-up line: what this process does (SERVICE_ROLE). */
const ROLE_LINES: Record<ServiceRole, (base: string) => string> = {
  [ServiceRole.All]: (base) =>
    `as role "all" (the API and background jobs); API documentation at ${base}/${DOCS_PATH}`,
  [ServiceRole.Api]: (base) =>
    `as role "api" (the API; jobs are queued for workers); API documentation at ${base}/${DOCS_PATH}`,
  [ServiceRole.Worker]: () => 'as role "worker" (background jobs; HTTP for /health only)',
};

bootstrap().catch((err: unknown) => {
  if (err instanceof ConfigValidationError) {
    process.stderr.write(`${err.message}\n`);
  } else {
    process.stderr.write(`Start-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  process.exit(1);
});
