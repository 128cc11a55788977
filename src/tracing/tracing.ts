import type { FastifyPluginCallback } from 'fastify';
import { OtelTracing, type EnvironmentVariables } from '../config/env.validation';

/** The settings tracing reads (before the application exists: main.ts). */
export type TracingConfig = Pick<
  EnvironmentVariables,
  'OTEL_TRACING' | 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_SERVICE_NAME'
>;

/** The OTLP/HTTP collector's address when none is set: the OpenTelemetry default. */
export const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';

/** OTEL_TRACING, or when it is unset, whether OTEL_EXPORTER_OTLP_ENDPOINT is. */
export function tracingEnabled(config: TracingConfig): boolean {
  if (config.OTEL_TRACING !== undefined) return config.OTEL_TRACING === OtelTracing.On;
  return config.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined;
}

/** Tracing while it runs: `stop` exports the spans still buffered and ends it. */
export interface Tracing {
  /** Registered on the application's Fastify before its routes (app.factory.ts). */
  fastifyPlugin: FastifyPluginCallback;
  /** `call`, whose outgoing requests carry no trace context (see `toThirdParty` below). */
  toThirdParty<T>(call: () => T): T;
  stop(): Promise<void>;
}

let running: Tracing | undefined;

/** The Fastify plugin of the tracing this process runs, if it does. */
export function tracingFastifyPlugin(): FastifyPluginCallback | undefined {
  return running?.fastifyPlugin;
}

/**
 * Runs `call`, which makes HTTP requests to a host that is not ours (an image imported from a URL a
 * client gave), so that they carry no trace context (`traceparent`, `tracestate`, `baggage`): our
 * trace ids, or what a client sent, are not for third parties to see. They are still spans of the
 * request's trace. Without tracing, `call` as it is.
 */
export function toThirdParty<T>(call: () => T): T {
  return running ? running.toThirdParty(call) : call();
}

/**
 * Starts OpenTelemetry tracing when the settings ask for it, and otherwise does nothing at all:
 * the SDK and the instrumentations (otel-sdk.ts, the one file that imports them) are loaded only
 * then, so a service without tracing neither loads nor runs any of it. To be called before the
 * application's modules are loaded (main.ts): the pg instrumentation patches the driver as it is
 * first required.
 */
export async function startTracing(config: TracingConfig): Promise<Tracing | undefined> {
  if (!tracingEnabled(config)) return undefined;
  const { startOtelSdk } = await import('./otel-sdk.js');
  running = startOtelSdk({
    endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT ?? DEFAULT_OTLP_ENDPOINT,
    serviceName: config.OTEL_SERVICE_NAME,
  });
  return running;
}
