import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { startOtelSdk } from './otel-sdk';

/** Nothing listens there, and no span is made: nothing is sent. */
const ENDPOINT = 'http://127.0.0.1:41599';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/**
 * The propagator the SDK installs is the one the HTTP and Fastify instrumentations read a
 * request's headers with and write every outgoing request's headers with (an image fetched by
 * URL, S3 and Cloudinary calls). Jest replaces Node's module loading, which the instrumentations
 * hook (test/e2e/tracing.e2e-spec.ts runs the built service for them): here, the propagator alone.
 */
describe(startOtelSdk.name, () => {
  const before = process.env.OTEL_PROPAGATORS;

  afterEach(() => {
    if (before === undefined) delete process.env.OTEL_PROPAGATORS;
    else process.env.OTEL_PROPAGATORS = before;
    // The SDK registers the API's globals once a process; each test starts its own.
    propagation.disable();
    trace.disable();
    context.disable();
  });

  /**
   * What a request with `headers` would send on, after the SDK started with `propagators` as
   * OTEL_PROPAGATORS, to our own hosts and to a third party's.
   */
  async function forwarded(headers: Record<string, string>, propagators?: string) {
    if (propagators === undefined) delete process.env.OTEL_PROPAGATORS;
    else process.env.OTEL_PROPAGATORS = propagators;
    const tracing = startOtelSdk({ endpoint: ENDPOINT, serviceName: 'propagation-under-test' });
    try {
      const incoming = propagation.extract(ROOT_CONTEXT, headers);
      const outgoing: Record<string, string> = {};
      const toThirdParty: Record<string, string> = {};
      context.with(incoming, () => {
        propagation.inject(context.active(), outgoing);
        tracing.toThirdParty(() => propagation.inject(context.active(), toThirdParty));
      });
      return { baggage: propagation.getBaggage(incoming), outgoing, toThirdParty };
    } finally {
      await tracing.stop();
    }
  }

  it("takes a caller's traceparent but never its baggage, nor sends that on", async () => {
    const { baggage, outgoing } = await forwarded({
      traceparent: TRACEPARENT,
      tracestate: 'vendor=opaque',
      baggage: 'user.role=admin,internal.tenant=42',
    });
    expect(baggage).toBeUndefined();
    expect(outgoing).toEqual({ traceparent: TRACEPARENT, tracestate: 'vendor=opaque' });
  });

  it('takes the propagators OTEL_PROPAGATORS names, when it is set', async () => {
    const { outgoing } = await forwarded(
      { traceparent: TRACEPARENT, baggage: 'region=eu' },
      'tracecontext,baggage',
    );
    expect(outgoing).toEqual({ traceparent: TRACEPARENT, baggage: 'region=eu' });
  });

  it('sends nothing on to a third party (an image imported by URL), whatever the propagators', async () => {
    const headers = { traceparent: TRACEPARENT, tracestate: 'vendor=opaque', baggage: 'region=eu' };
    expect((await forwarded(headers)).toThirdParty).toEqual({});
    expect((await forwarded(headers, 'tracecontext,baggage')).toThirdParty).toEqual({});
    expect((await forwarded(headers, 'b3')).toThirdParty).toEqual({});
  });
});
