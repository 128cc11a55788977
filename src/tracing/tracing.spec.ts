import { OtelTracing } from '../config/env.validation';
import { startTracing, tracingEnabled, tracingFastifyPlugin } from './tracing';

const ENDPOINT = 'http://collector.internal:4318';

describe(tracingEnabled.name, () => {
  it.each([
    [undefined, undefined, false],
    [undefined, ENDPOINT, true],
    [OtelTracing.On, undefined, true],
    [OtelTracing.On, ENDPOINT, true],
    [OtelTracing.Off, undefined, false],
    [OtelTracing.Off, ENDPOINT, false],
  ])('OTEL_TRACING=%s with OTEL_EXPORTER_OTLP_ENDPOINT=%s: %s', (setting, endpoint, on) => {
    expect(
      tracingEnabled({
        OTEL_TRACING: setting,
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_SERVICE_NAME: 'product-image-service',
      }),
    ).toBe(on);
  });

  it('starts nothing when off', async () => {
    const tracing = await startTracing({
      OTEL_TRACING: OtelTracing.Off,
      OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT,
      OTEL_SERVICE_NAME: 'product-image-service',
    });
    expect(tracing).toBeUndefined();
    expect(tracingFastifyPlugin()).toBeUndefined();
  });
});
