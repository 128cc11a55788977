import type { FastifyRequest } from 'fastify';
import type { DynamicModule, Type } from '@nestjs/common';
import { NestFactory, RouterModule } from '@nestjs/core';
import multipart from '@fastify/multipart';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module';
import { PreBodyAuthHook } from './auth/pre-body-auth.hook';
import {
  loadAppConfig,
  type AppConfigOptions,
  type LoadedConfig,
} from './config/app-config.module';
import { ServiceRole, type EnvironmentVariables } from './config/env.validation';
import { AppError } from './common/errors/app.error';
import { createValidationPipe } from './common/http/validation';
import { answerWrongMethods, isPreflight } from './common/http/method-not-allowed';
import { DATA_URI_BODY, dataUriBodyLimit, parseJsonBody } from './common/http/json-body.parser';
import { closeConnectionsWhenClosing } from './common/http/graceful-close';
import { servePipelinedInTurn } from './common/http/pipelining';
import { checkPathsBeforeBody } from './common/http/path-checks';
import { answerFrameworkError, MAX_PARAM_LENGTH } from './common/http/framework-errors';
import { answerClientError } from './common/http/client-error.handler';
import { registerSecurityHeaders } from './common/http/security-headers';
import {
  MULTIPART_FIELD_BYTES,
  MultipartRoutesInterceptor,
  refuseBodiesNotMultipart,
} from './common/http/multipart-routes';
import { refuseEncodedBodies } from './common/http/content-encoding';
import {
  continueOnceAdmitted,
  ignoreUnknownExpectations,
  requireHost,
} from './common/http/host-and-expect';
import { createAppLogger } from './common/logging/logger-params';
import { loggingConfigOf } from './common/logging/logging.config';
import { REQUEST_ID_HEADER, requestIdFor } from './common/logging/request-id';
import { CompatModule } from './compat/compat.module';
import { ConsoleModule } from './console/console.module';
import { HealthModule } from './health/health.module';
import { HttpMetricsHook } from './metrics/http-metrics.hook';
import { MetricsModule } from './metrics/metrics.module';
import { DeliveryModule } from './images/delivery/delivery.module';
import { TransformRoute } from './images/delivery/transform.route';
import type { ProviderWrapper } from './storage/providers/storage-provider.factory';
import { StorageModule, storageWrapping } from './storage/storage.module';
import { DOCS_PATH, setupOpenApi } from './openapi/openapi';
import { uploadTempDir } from './images/intake/upload-spool';
import { dataUriBodyParsing } from './images/intake/import/data-uri-body.parser';
import { registerUploadSpool } from './images/intake/upload-spool.interceptor';
import { refuseBusyUploadsBeforeBody } from './images/intake/busy-upload.hook';
import { ImageProcessor } from './images/processing/image-processor';
import { lookUpProductsBeforeBody } from './images/gallery/product-before-body.hook';
import { ProductsService } from './products/products.service';
import { httpTimeoutsConfigOf } from './common/http/http.config';
import { httpServerTimeouts, registerRequestTimeouts } from './common/http/request-timeouts';
import { tracingFastifyPlugin } from './tracing/tracing';

export const API_PREFIX = 'api/v1';

export interface CreateAppOptions extends AppConfigOptions {
  /** Extra modules mounted beside the application's own (tests add probe routes this way). */
  imports?: ModuleImport[];
  /** The configuration already loaded (main.ts reads it first, to start tracing before Nest). */
  config?: LoadedConfig;
  /**
   * Passes the configured storage provider through this function before anything uses it (the
   * end-to-end tests inject storage faults around the real provider this way); never in production.
   */
  wrapStorage?: ProviderWrapper;
}

type ModuleImport = Type | DynamicModule;

/**
 * The modules served outside the API prefix: the probes (/health), the metrics (/metrics), local
 * files (/media), images made on request (/transform), the compatible APIs (each at its own
 * documented paths) and the gallery console (/console). (/.well-known/jwks.json is outside too: its
 * module is imported by AuthModule, and RouterModule prefixes only the modules it is given.)
 */
const OUTSIDE_API: ReadonlySet<Type> = new Set([
  HealthModule,
  MetricsModule,
  StorageModule,
  DeliveryModule,
  CompatModule,
  ConsoleModule,
]);

/**
 * The root module with the routes of every module but those of OUTSIDE_API under API_PREFIX. A
 * module path rather than a global prefix with exclusions, which Nest gets wrong three ways: it
 * logs each controller's mapping with the prefix even when all its routes are excluded
 * ("HealthController {/api/v1/health}"), mounts middleware on every exclusion besides the prefix
 * (each /health request logged twice), and converts the exclusions and the routes they cover to
 * path-to-regexp for that middleware, warning about Fastify's own wildcard in "/media/*".
 */
function withApiPrefix(root: DynamicModule): DynamicModule {
  const imports = (root.imports ?? []) as ModuleImport[];
  const api = imports
    .map((m) => ('module' in m ? m.module : m))
    .filter((module) => !OUTSIDE_API.has(module));
  const prefixed = RouterModule.register(api.map((module) => ({ path: API_PREFIX, module })));
  return { ...root, imports: [...imports, prefixed] };
}

/** The modules a caller adds: its own, and the storage wrapper it gives. */
function extraModules(options: CreateAppOptions): ModuleImport[] {
  const wrapping = options.wrapStorage ? [storageWrapping(options.wrapStorage)] : [];
  return [...(options.imports ?? []), ...wrapping];
}

/**
 * Builds the fully configured application, initialised but not listening. `main.ts` listens on
 * it; end-to-end tests use `app.inject()` or listen on a random port. One definition for both, so
 * tests exercise exactly what runs in production.
 */
export async function createApp(options: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  const config = options.config ?? (await loadAppConfig(options));
  const { env } = config;
  const app = await NestFactory.create<NestFastifyApplication>(
    withApiPrefix(AppModule.forRoot(config, extraModules(options))),
    createAdapter(env),
    { logger: createAppLogger(loggingConfigOf(env)), bodyParser: false, abortOnError: false },
  );
  // Tracing, when main.ts started it: a span for each request, carrying its id (tracing/).
  const tracing = tracingFastifyPlugin();
  if (tracing) await app.register(tracing);
  // First of the onRequest hooks: a pipelined request waits for the answers before it to go out
  // (one dropped because its client left is counted as the metrics hook counts the others).
  const httpMetrics = app.get(HttpMetricsHook);
  servePipelinedInTurn(app.getHttpAdapter().getInstance(), (request, reply) =>
    httpMetrics.countDropped(request, reply),
  );
  // First of the preParsing hooks: a caller without access to the route is refused unread.
  app.get(PreBodyAuthHook).install(app.getHttpAdapter().getInstance());
  // Next: an upload expecting 100-continue met by a saturated processor is refused unread (503).
  refuseBusyUploadsBeforeBody(app.getHttpAdapter().getInstance(), app.get(ImageProcessor));
  // A body other than multipart on an upload route that takes nothing else is 415, unread: a
  // hook of those routes alone, so after the global ones (multipart-routes.ts).
  refuseBodiesNotMultipart(app.getHttpAdapter().getInstance());
  // An upload to a gallery expecting 100-continue, for no product: 404, unread (a route's hook).
  lookUpProductsBeforeBody(app.getHttpAdapter().getInstance(), app.get(ProductsService));
  // Every request's duration by route pattern and status, once answered (GET /metrics).
  httpMetrics.install(app.getHttpAdapter().getInstance());
  // /transform answered by a Fastify handler in place of Nest's (transform.route.ts).
  app.get(TransformRoute).install(app.getHttpAdapter().getInstance());
  // A body with a Content-Encoding is refused unread (415): bodies are read as sent.
  refuseEncodedBodies(app.getHttpAdapter().getInstance());
  // After those two refusals: `100 Continue` only to a request about to have its body read.
  continueOnceAdmitted(app.getHttpServer(), app.getHttpAdapter().getInstance());
  // What it checks of the path before inviting a body: what each route's pipes check of it.
  checkPathsBeforeBody(app);
  configureBodyParsing(app, env);
  app.useGlobalPipes(createValidationPipe());
  app
    .getHttpAdapter()
    .getInstance()
    // Not async: every request passes here, and a promise per hook is a microtask per hook.
    .addHook('onRequest', (request, reply, done) => {
      reply.header(REQUEST_ID_HEADER, request.id);
      done();
    });
  await registerMultipart(app, env);
  // A multipart request to a route that takes none: 415, its body unread; one announcing more
  // than any upload can be: 413, unread (multipart-routes.ts).
  app.useGlobalInterceptors(new MultipartRoutesInterceptor(env.MAX_UPLOAD_BYTES));
  // Spooled uploads and decoded data URIs are removed when their request is over, however it ends.
  registerUploadSpool(app);
  registerRequestTimeouts(app, httpTimeoutsConfigOf(env));
  await registerSecurityHeaders(app, DOCS_PATH);
  // After the security headers' hook, so that the 503 of a request arriving while closing has them.
  closeConnectionsWhenClosing(app);
  // What Node refused bare (no Host; an Expect it does not know), answered by the service (after
  // the security headers' hook, so that its 400 carries them).
  requireHost(app.getHttpAdapter().getInstance());
  ignoreUnknownExpectations(app.getHttpServer());
  // A path served under other methods than the request's: 405 with Allow, not 404.
  answerWrongMethods(
    app.getHttpAdapter().getInstance(),
    env.SERVICE_ROLE === ServiceRole.Worker ? (path) => PROBE_ROUTE.test(path) : undefined,
  );
  enableCors(app, env);
  if (env.SERVICE_ROLE === ServiceRole.Worker) serveOnlyProbes(app);
  else setupOpenApi(app);
  await initOrClose(app);
  return app;
}

/** The routes a worker serves: the liveness and readiness probes, and the metrics. */
const PROBE_ROUTE = /^\/(health(\/|$)|metrics$)/;

/**
 * SERVICE_ROLE=worker: the process runs jobs and answers only the probes and /metrics (its jobs'
 * numbers are there; served with METRICS_TOKEN set); any other route is 404 `route_not_found`,
 * the answer for a route that does not exist (and no API document is built).
 *
 * The routes are closed at the door rather than left out of the application: a worker has the
 * one AppModule of every role, so every service a job needs (storage, image processing, the
 * database) is built exactly as in the API, with no second module graph to keep in step.
 * Leaving the controllers out instead would mean splitting each feature module into its services
 * and its routes. The hook is `onRequest`, the first step after routing, and added after the
 * request id and security headers hooks: so the 404 carries both, and nothing of the route runs
 * (no authentication, no body read).
 */
function serveOnlyProbes(app: NestFastifyApplication): void {
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', (request, _reply, done) => {
      const route = request.routeOptions.url;
      // No route: the not-found handler answers route_not_found itself.
      if (route === undefined || PROBE_ROUTE.test(route)) return done();
      const path = request.url.split('?', 1)[0];
      done(new AppError('route_not_found', `No route matches ${request.method} ${path}.`));
    });
}

/** Fastify as the application configures it: no logger of its own, the API's limits and errors. */
function createAdapter(env: EnvironmentVariables): FastifyAdapter {
  // Slow clients: header, whole-request and keep-alive timeouts (see request-timeouts.ts).
  const timeouts = httpServerTimeouts(httpTimeoutsConfigOf(env));
  return new FastifyAdapter({
    logger: false,
    trustProxy: env.TRUST_PROXY,
    bodyLimit: env.JSON_BODY_LIMIT_BYTES,
    requestIdHeader: false,
    // A request arriving while the server closes is ours to refuse (graceful-close.ts).
    return503OnClosing: false,
    genReqId: requestIdFor,
    ...timeouts,
    // With the timeouts' options of Node's server: a request without Host is refused by a hook
    // of ours, as problem+json (host-and-expect.ts).
    http: { ...timeouts.http, requireHostHeader: false },
    // The router's own refusals (bad percent-encoding, over-long parameter) as problem+json.
    frameworkErrors: answerFrameworkError,
    // Node's HTTP parser's refusals (malformed requests, a half-close mid-body) as problem+json.
    clientErrorHandler: answerClientError,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
  });
}

/** The bodies the API reads: JSON, and on the routes marked DATA_URI_BODY an image in base64. */
function configureBodyParsing(app: NestFastifyApplication, env: EnvironmentVariables): void {
  // The API speaks JSON (and, for uploads, multipart): no text/plain or form bodies.
  app.getHttpAdapter().getInstance().removeContentTypeParser('text/plain');
  app.useBodyParser('application/json', { bodyLimit: env.JSON_BODY_LIMIT_BYTES }, parseJsonBody);
  // Routes marked DATA_URI_BODY take an image in base64: their limit fits the largest upload,
  // and the image is decoded to a file as it streams in, never held whole (data-uri-body.parser).
  const fastify = app.getHttpAdapter().getInstance();
  const dataUriBody = dataUriBodyParsing({
    tmpDir: uploadTempDir(env),
    maxBytes: env.MAX_UPLOAD_BYTES,
    jsonLimit: env.JSON_BODY_LIMIT_BYTES,
  });
  fastify.addHook('onRoute', (route) => {
    const config = route.config as { jsonBody?: string } | undefined;
    if (config?.jsonBody === DATA_URI_BODY.jsonBody) {
      route.bodyLimit = dataUriBodyLimit(env.MAX_UPLOAD_BYTES);
      route.preParsing = [route.preParsing ?? []].flat().concat(dataUriBody);
    }
  });
}

/** Multipart is streamed: the file part is written to disk as it arrives, cut at the limit. */
async function registerMultipart(
  app: NestFastifyApplication,
  env: EnvironmentVariables,
): Promise<void> {
  await app.register(multipart, {
    limits: {
      fileSize: env.MAX_UPLOAD_BYTES,
      // Two, so that a second file is seen and refused rather than silently dropped.
      files: 2,
      fields: 10,
      parts: 12,
      fieldSize: MULTIPART_FIELD_BYTES,
      headerPairs: 100,
    },
  });
}

/** CORS for CORS_ORIGINS (`*`: any origin); none when it is empty. */
function enableCors(app: NestFastifyApplication, env: EnvironmentVariables): void {
  if (!env.CORS_ORIGINS) return;
  const options: CorsOptions = {
    origin: env.CORS_ORIGINS === '*' ? true : env.CORS_ORIGINS.split(',').map((o) => o.trim()),
    // @fastify/cors allows GET, HEAD and POST only unless told: a browser's PUT, PATCH or DELETE
    // (the gallery's order, a product's fields, an image) would fail its preflight.
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    // Content-Range: a page reading an image by ranges learns where a part lies and the whole size.
    exposedHeaders: [
      'X-Request-Id',
      'ETag',
      'Location',
      'Retry-After',
      'WWW-Authenticate',
      'Content-Range',
    ],
    maxAge: 600,
  };
  // An OPTIONS that is no preflight is not CORS's to answer (it would say a bare 400, "Invalid
  // Preflight Request"): it asks which methods a path takes (method-not-allowed.ts).
  const plain = { ...options, preflight: false };
  const perRequest: CorsDelegate = (request, callback) =>
    callback(null, request.method === 'OPTIONS' && !isPreflight(request) ? plain : options);
  // Nest's Fastify adapter takes @fastify/cors's per-request delegate (it says so in its code)
  // though its type names only the options.
  app.enableCors(perRequest as unknown as CorsOptions);
}

type CorsOptions = NonNullable<Parameters<NestFastifyApplication['enableCors']>[0]>;
/** @fastify/cors's options delegate: the options for each request. */
type CorsDelegate = (
  request: FastifyRequest,
  callback: (error: Error | null, options: CorsOptions) => void,
) => void;

/**
 * Initialises the application; if a module refuses to start (storage unusable, say), closes what
 * the others had opened (database pool, timers) before passing the error on, so that a failed
 * start leaves nothing running in the process that tried it.
 */
async function initOrClose(app: NestFastifyApplication): Promise<void> {
  try {
    await app.init();
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
}
