import { IncomingMessage, ServerResponse } from 'node:http';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import {
  context,
  createContextKey,
  trace,
  type Context,
  type Span,
  type TextMapPropagator,
  type TextMapSetter,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { core, NodeSDK } from '@opentelemetry/sdk-node';
// The SDK's own reading of OTEL_PROPAGATORS, which its index does not export.
import { getPropagatorFromEnv } from '@opentelemetry/sdk-node/build/src/utils';
import { redactUrl } from '../common/logging/redact';
import type { Tracing } from './tracing';

/** The span attribute carrying the request id, as the X-Request-Id header and the logs show it. */
export const REQUEST_ID_ATTRIBUTE = 'request.id';

/** Probes and scrapes, every few seconds from machines: no traces of them. */
const UNTRACED = /^\/(health(\/|\?|$)|metrics(\?|$))/;

/**
 * The OpenTelemetry Node SDK, loaded only when tracing is on (tracing.ts): spans of incoming and
 * outgoing HTTP, of Fastify's handling of each request (@fastify/otel, a plugin the application
 * registers before its routes: see `fastifyPlugin`), and of PostgreSQL queries, exported over
 * OTLP/HTTP in batches. The
 * SDK's own environment variables (OTEL_TRACES_SAMPLER, OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_*…)
 * apply as it reads them. Only traces: the metrics are Prometheus's (GET /metrics), the logs
 * pino's on stdout.
 */
export function startOtelSdk(options: { endpoint: string; serviceName: string }): Tracing {
  // A plugin the application registers (app.factory.ts) rather than one hooked onto every Fastify
  // instance as it is made (registerOnInitialization): this process's spans come from its one
  // application, in the order of its own hooks.
  const fastify = new FastifyOtelInstrumentation({
    ignorePaths: ({ url }) => UNTRACED.test(url),
    // One span for the request, not one per hook (a dozen). Nor one for the handler: wrapping
    // it would rename the handlers the pre-body authentication finds the routes by
    // (auth/pre-body-auth.hook.ts), and Nest's guards, pipes and controller all run in it.
    instrumentHooks: false,
    instrumentHandler: false,
    requestHook: (span, request) => {
      endsAsClientClosed(span, () => request.raw.aborted);
      span.setAttribute(REQUEST_ID_ATTRIBUTE, request.id);
      // Its url.path is the URL as sent, query included: with a credential's value, as logged.
      span.setAttribute('url.path', redactUrl(request.url));
      // The HTTP server span around it: the root of the request's trace.
      trace.getActiveSpan()?.setAttribute(REQUEST_ID_ATTRIBUTE, request.id);
    },
  });
  const sdk = new NodeSDK({
    serviceName: options.serviceName,
    textMapPropagator: propagator(),
    traceExporter: new OTLPTraceExporter({ url: `${options.endpoint}/v1/traces` }),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => UNTRACED.test(request.url ?? ''),
        requestHook: (span, request) => {
          if (request instanceof IncomingMessage) redactUrlAttributes(span, request.url ?? '');
          else redactClientUrl(span);
        },
        responseHook: (span, response) => {
          // A 408 the service wrote on the socket itself (request-timeouts.ts) is one.
          if (response instanceof ServerResponse) {
            endsAsClientClosed(span, () => !response.headersSent && response.statusCode !== 408);
          }
        },
        // Background work (a job's storage calls) makes no traces of its own.
        requireParentforOutgoingSpans: true,
      }),
      // Queries outside a request (the job queue polls every few seconds) make no traces.
      new PgInstrumentation({ requireParentSpan: true }),
      fastify,
    ],
  });
  sdk.start();
  return {
    fastifyPlugin: fastify.plugin(),
    toThirdParty: (call) => context.with(context.active().setValue(THIRD_PARTY, true), call),
    stop: () => sdk.shutdown(),
  };
}

/** In a context, that the requests made in it go to a host that is not ours. */
const THIRD_PARTY = createContextKey('requests to a host that is not ours');

/**
 * `propagator`, injecting nothing in a context of requests to a third party (`toThirdParty`: an
 * image imported by URL, its redirects): the HTTP instrumentation writes every outgoing request's
 * headers with the propagator, in the context of the request's span, so those requests still have
 * their span, a child of the request's, but carry neither our `traceparent` (our trace and span
 * ids) nor the `tracestate` a client sent, to a host we do not control. Those to our storage (S3,
 * Cloudinary) carry them as before.
 */
function notToThirdParties(propagator: TextMapPropagator): TextMapPropagator {
  return {
    inject(active: Context, carrier: unknown, setter: TextMapSetter) {
      if (active.getValue(THIRD_PARTY) !== true) propagator.inject(active, carrier, setter);
    },
    extract: (active, carrier, getter) => propagator.extract(active, carrier, getter),
    fields: () => propagator.fields(),
  };
}

/**
 * W3C Trace Context alone (`traceparent`, `tracestate`) unless OTEL_PROPAGATORS names others. The
 * SDK's default adds W3C Baggage: a client's `baggage` header, whatever it held, was taken into
 * each request's context and sent on with every outgoing request it made (an image fetched by URL,
 * S3 and Cloudinary calls), to hosts that may trust it as coming from us. Nothing here reads or
 * sets baggage. An operator who names `baggage` in OTEL_PROPAGATORS (behind an edge that strips
 * the clients' own) has it, as the SDK documents; empty is unset, as the SDK reads it. Whichever
 * it is, requests to third parties carry none of it (notToThirdParties).
 */
function propagator(): TextMapPropagator | null {
  if (!process.env.OTEL_PROPAGATORS?.trim()) {
    return notToThirdParties(new core.W3CTraceContextPropagator());
  }
  // null, for OTEL_PROPAGATORS=none (or only unknown ones): none at all, as the SDK has it.
  const named = getPropagatorFromEnv();
  return named ? notToThirdParties(named) : null;
}

/** A request whose client left before its answer began: 499, as its metrics count it. */
const CLIENT_CLOSED = 499;

/**
 * Has `span` end with `http.response.status_code` 499 when `unanswered` says, then, that its
 * request's client left before any answer began. The instrumentations end such a request's spans
 * with the status of a response never sent (Node's default 200, unset status): in the traces, a
 * slow request its client gave up on looked answered and fine. Their own attributes are set just
 * before they end the span, so it is done as it ends.
 */
function endsAsClientClosed(span: Span, unanswered: () => boolean): void {
  const end = span.end.bind(span);
  span.end = (endTime) => {
    if (unanswered()) span.setAttribute('http.response.status_code', CLIENT_CLOSED);
    end(endTime);
  };
}

/**
 * The HTTP server span's URL attributes without the values of credential-bearing query parameters
 * (an API key in `?x-api-key=`), as the logs write them (redactUrl): the instrumentation redacts
 * only a few cloud signatures of its own. Its url.path ends where redactUrl's query starts.
 */
function redactUrlAttributes(span: Span, url: string): void {
  const redacted = redactUrl(url);
  if (redacted === url) return;
  const query = redacted.search(/[?;#]/);
  span.setAttribute('url.path', redacted.slice(0, query));
  const search = redacted.indexOf('?');
  if (search !== -1) span.setAttribute('url.query', redacted.slice(search + 1).split('#')[0]);
}

/** The attributes an outgoing request's span may carry its URL in, by semantic conventions. */
const CLIENT_URL_ATTRIBUTES = ['url.full', 'http.url', 'http.target'] as const;

/**
 * An outgoing request's span (an image fetched by URL, its redirects) without the values of
 * credential-bearing query parameters, as the logs write them: a shop's signed image link
 * (`?token=…`) was exported whole, the instrumentation redacting only a few cloud signatures of
 * its own. Its attributes are set as the span starts, before this hook, and are read back from
 * the SDK's span.
 */
function redactClientUrl(span: Span): void {
  const attributes = (span as unknown as { attributes?: Record<string, unknown> }).attributes;
  for (const name of CLIENT_URL_ATTRIBUTES) {
    const value = attributes?.[name];
    if (typeof value !== 'string') continue;
    const redacted = redactUrl(value);
    if (redacted !== value) span.setAttribute(name, redacted);
  }
}
