import './common/runtime/require-supported-node';
import './common/runtime/size-thread-pool';
import 'reflect-metadata';
// Loaded here, not with the application below: its ES build (import()) and its CommonJS build
// (what the application requires) would be two Logger classes, the first unknown to Nest.
import { Logger } from 'nestjs-pino';
import { safeError } from './common/logging/safe-error';
import { loadAppConfig } from './config/app-config.module';
import { ConfigValidationError, ServiceRole } from './config/env.validation';
import { startTracing } from './tracing/tracing';

/**
 * The `context` of this file's log lines. Nest's logger reads the last argument as the context:
 * given an object and a message only, the message would become the context, and the line's `msg`
 * the error's message or nothing.
 */
const PROCESS_CONTEXT = 'Process';
/**
 * The longest an exit that cuts requests waits for their Idempotency-Keys to be let go (the
 * database may be what failed): a key not let go stays in flight for
 * IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS, as after a crash.
 */
const KEY_RELEASE_MS = 1500;

async function bootstrap(): Promise<void> {
  // The configuration first, then tracing when it is on, and only then the application's modules:
  // the pg instrumentation patches the driver as it is first required (the job queue requires it
  // as soon as it is loaded).
  const config = await loadAppConfig();
  const tracing = await startTracing(config.env);
  // One after the other: Nest's packages are ES modules, which two imports at once would race to
  // load (Node refuses to require one still loading).
  const { createApp } = await import('./app.factory.js');
  const { AdminBootstrapService } = await import('./auth/admin-bootstrap.service.js');
  const { DOCS_PATH } = await import('./openapi/openapi.js');
  const { removeLiveSpoolFiles } = await import('./images/intake/upload-spool.js');
  const { JobQueue } = await import('./jobs/job-queue.service.js');
  const { IdempotencyService } = await import('./idempotency/idempotency.service.js');
  const app = await createApp({ config });
  const { env } = config;
  const logger = app.get(Logger);

  // Graceful shutdown: stop accepting connections, let in-flight requests and running jobs
  // finish, close the database, exit 0. A second signal or the timeout forces the exit.
  let closing = false;
  // Requests still in flight are cut: see cuttingExit.
  const exitNow = cuttingExit(logger, removeLiveSpoolFiles, (withinMs) =>
    app.get(IdempotencyService).releaseCut(withinMs),
  );
  const shutdown = (signal: NodeJS.Signals): void => {
    if (closing) return exitNow('warn', `Received ${signal} again; exiting now`);
    closing = true;
    logger.log(`Received ${signal}; shutting down gracefully`);
    const timer = setTimeout(
      () =>
        exitNow('error', `Shutdown did not finish within ${env.SHUTDOWN_TIMEOUT_MS} ms; exiting`),
      env.SHUTDOWN_TIMEOUT_MS,
    );
    timer.unref();
    const deadline = Date.now() + env.SHUTDOWN_TIMEOUT_MS;
    // Connections first: no new ones, those in flight finished (with `Connection: close`). Then
    // the jobs, in the time left, and only then the rest of Nest's shutdown. Left to Nest, the
    // jobs would be drained first (a hook before shutdown), the listener still open, taking new
    // requests that the forced exit then cut, and the jobs left running when it came not handed
    // back to their queue.
    app
      .getHttpAdapter()
      .getInstance()
      .close()
      .then(() => app.get(JobQueue).stop(deadline - Date.now()))
      .then(() => app.close())
      // Then the spans still buffered, when tracing is on (an unreachable collector is no failure).
      .then(() => tracing?.stop().catch(() => undefined))
      .then(
        () => {
          removeJobSpoolFiles(logger, removeLiveSpoolFiles);
          process.exit(0);
        },
        (err: unknown) => {
          logger.error({ err: safeError(err) }, 'Shutdown failed', PROCESS_CONTEXT);
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // A fault no code caught (a throw in a callback, a promise no one awaited: Node turns those into
  // this event too): the process cannot be trusted to go on, and exits 1 for its supervisor to
  // start it again, as without this handler. But first one fatal JSON line, where Node would
  // print a bare stack to stderr that a log pipeline reading JSON drops, and the temporary files
  // of the requests it cuts removed rather than left to the hourly sweep.
  process.on('uncaughtException', (err, origin) =>
    exitNow('fatal', 'Uncaught exception; exiting', { err: safeError(err), origin }),
  );

  await app.listen({ port: env.PORT, host: env.HOST });
  const shown = env.HOST === '0.0.0.0' || env.HOST === '::' ? 'localhost' : env.HOST;
  const base = `http://${shown.includes(':') ? `[${shown}]` : shown}:${env.PORT}`;
  logger.log(`Listening on ${base} ${ROLE_LINES[env.SERVICE_ROLE](`${base}/${DOCS_PATH}`)}`);
  // A worker has no API to log in to: the first administrator is made, and a generated password
  // printed, by a process that serves it.
  if (env.SERVICE_ROLE === ServiceRole.Worker) return;
  // Only now that start-up has succeeded: a generated password printed by a start that then
  // failed would be lost with the failure (see AdminBootstrapService).
  await app.get(AdminBootstrapService).ensureFirstAdministrator();
}

/**
 * At the end of a graceful shutdown: the jobs handed back to their queue by the job queue's stop
 * (a bulk import's row whose image was still downloading, a rebuild's original read back) may
 * still hold their spool files, which go now rather than at the hourly sweep. Every request is
 * over by then.
 */
function removeJobSpoolFiles(logger: Logger, removeSpoolFiles: () => { files: number }): void {
  const { files } = removeSpoolFiles();
  if (files === 0) return;
  const fields = { spool_files_removed: files };
  logger.log(fields, 'Removed the temporary files of interrupted jobs', PROCESS_CONTEXT);
}

/**
 * The exit that cuts the requests still in flight (a shutdown out of time, a second signal, an
 * uncaught exception), with status 1: their temporary upload files go now, not at the next sweep,
 * and the Idempotency-Keys they hold, whose work never committed, are let go for their retries,
 * within KEY_RELEASE_MS. Anything calling for the exit again meanwhile (a third signal) exits at
 * once.
 */
function cuttingExit(
  logger: Logger,
  removeSpoolFiles: () => { files: number },
  releaseKeys: (withinMs: number) => Promise<number>,
): (level: 'warn' | 'error' | 'fatal', message: string, fields?: Record<string, unknown>) => void {
  let exiting = false;
  return (level, message, fields = {}) => {
    if (exiting) process.exit(1);
    exiting = true;
    const { files } = removeSpoolFiles();
    logger[level]({ ...fields, spool_files_removed: files }, message, PROCESS_CONTEXT);
    void releaseKeys(KEY_RELEASE_MS)
      .then((released) => {
        if (released === 0) return;
        const count = { idempotency_keys_released: released };
        logger.warn(count, 'Released the Idempotency-Keys of cut requests', PROCESS_CONTEXT);
      })
      .finally(() => process.exit(1));
  };
}

/** The rest of the start-up line: what this process does (SERVICE_ROLE). */
const ROLE_LINES: Record<ServiceRole, (docs: string) => string> = {
  [ServiceRole.All]: (docs) =>
    `as role "all" (the API and background jobs); API documentation at ${docs}`,
  [ServiceRole.Api]: (docs) =>
    `as role "api" (the API; jobs are queued for workers); API documentation at ${docs}`,
  [ServiceRole.Worker]: () =>
    'as role "worker" (background jobs; HTTP for /health and /metrics only)',
};

bootstrap().catch((err: unknown) => {
  if (err instanceof ConfigValidationError) {
    process.stderr.write(`${err.message}\n`);
  } else {
    process.stderr.write(`Start-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  process.exit(1);
});
