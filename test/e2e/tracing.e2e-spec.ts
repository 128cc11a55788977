import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { eventually } from '../support/eventually';
import {
  freePort,
  inheritedEnv,
  ROOT,
  type RunningService,
  SERVICE_TEST_TIMEOUT_MS,
  startService,
  waitForStatus,
} from '../support/process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

// These tests start the service and wait for it to be ready.
jest.setTimeout(SERVICE_TEST_TIMEOUT_MS);

const execFileAsync = promisify(execFile);

/** One span as OTLP/HTTP's JSON encoding carries it, its attributes flattened. */
interface ReceivedSpan {
  traceId: string;
  name: string;
  scope: string;
  attributes: Record<string, unknown>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  doubleValue?: number;
}

interface OtlpExport {
  resourceSpans: {
    resource: { attributes: { key: string; value: OtlpValue }[] };
    scopeSpans: {
      scope: { name: string };
      spans: { traceId: string; name: string; attributes?: { key: string; value: OtlpValue }[] }[];
    }[];
  }[];
}

function flatten(attributes: { key: string; value: OtlpValue }[] = []): Record<string, unknown> {
  return Object.fromEntries(
    attributes.map(({ key, value }) => [
      key,
      value.stringValue ?? value.intValue ?? value.boolValue ?? value.doubleValue,
    ]),
  );
}

/** An OTLP/HTTP collector on loopback that keeps what is posted to /v1/traces. */
async function fakeCollector(): Promise<{
  server: Server;
  url: string;
  spans: ReceivedSpan[];
  resources: Record<string, unknown>[];
}> {
  const spans: ReceivedSpan[] = [];
  const resources: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport;
        for (const { resource, scopeSpans } of body.resourceSpans) {
          resources.push(flatten(resource.attributes));
          for (const { scope, spans: list } of scopeSpans) {
            for (const span of list) {
              spans.push({
                traceId: span.traceId,
                name: span.name,
                scope: scope.name,
                attributes: flatten(span.attributes),
              });
            }
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}`, spans, resources };
}

/**
 * A loopback server answering every GET with one small PNG: a shop's host, not ours. It keeps the
 * headers of each request it is sent.
 */
async function imageServer(): Promise<{
  server: Server;
  origin: string;
  received: IncomingHttpHeaders[];
}> {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#396' } })
    .png()
    .toBuffer();
  const received: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    received.push(req.headers);
    res.writeHead(200, { 'content-type': 'image/png' }).end(png);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, origin, received };
}

/**
 * Logs in as the service's first admin, makes a product and imports its image from `url`, the
 * import's request with `traced` headers of its own.
 */
async function importByUrl(
  base: string,
  url: string,
  traced: Record<string, string> = {},
): Promise<Response> {
  const json = { 'content-type': 'application/json' };
  const login = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ email: 'tracer@test.example', password: 'tracing-admin-password' }),
  });
  const { access_token } = (await login.json()) as { access_token: string };
  const headers = { ...json, authorization: `Bearer ${access_token}` };
  const product = await fetch(`${base}/api/v1/products`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ name: 'Traced' }),
  });
  const { id } = (await product.json()) as { id: string };
  return fetch(`${base}/api/v1/products/${id}/image`, {
    method: 'PUT',
    headers: { ...headers, ...traced },
    body: JSON.stringify({ image: url }),
  });
}

/**
 * OpenTelemetry tracing of the built service (the instrumentations hook Node's module loading,
 * which Jest replaces: so the real process): with OTEL_EXPORTER_OTLP_ENDPOINT set, each request
 * is a trace whose spans carry its request id, down to its SQL; without it, nothing of the SDK is
 * loaded.
 */
describe('Tracing (OpenTelemetry)', () => {
  let cwd: string;
  let db: TestDatabase;

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'pis-tracing-'));
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('exports a span for each request, carrying its request id, to the OTLP endpoint', async () => {
    const collector = await fakeCollector();
    const port = await freePort();
    const images = await imageServer();
    let service: RunningService | undefined;
    try {
      service = startService(
        {
          ...db.env,
          PORT: String(port),
          HOST: '127.0.0.1',
          LOG_LEVEL: 'warn',
          NODE_ENV: 'test',
          OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
          OTEL_SERVICE_NAME: 'images-under-test',
          // The SDK's own setting: export the batch after 100 ms rather than 5 s.
          OTEL_BSP_SCHEDULE_DELAY: '100',
          ADMIN_EMAIL: 'tracer@test.example',
          ADMIN_PASSWORD: 'tracing-admin-password',
          IMPORT_ALLOWED_PRIVATE_ORIGINS: images.origin,
        },
        cwd,
      );
      const base = `http://127.0.0.1:${port}`;
      await waitForStatus(`${base}/health/ready`, 200, 60_000);

      // A login that reads the database, with the caller's request id; a refusal, with ours.
      const logIn = (headers: Record<string, string> = {}) =>
        fetch(`${base}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ username: 'nobody', password: 'not-the-password' }),
        });
      expect((await logIn({ 'x-request-id': 'traced-login-1' })).status).toBe(401);
      // A refusal by a hook, before any handler, still answers as without tracing.
      const refused = await fetch(`${base}/api/v1/products`);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const generated = refused.headers.get('x-request-id');
      expect(generated).toMatch(/^[0-9a-f-]{36}$/);
      // A key in the query (the back-office uploader's form): its value is in no span, as in no log.
      const secret = 'pis_tracedkey_s3cretvalueofthequerykey';
      // Nor a presigned URL's signature, which the instrumentation hides of its own.
      const amzSignature = 'presigned0signature0f0a0cloud0url';
      const keyed = await fetch(
        `${base}/api/v1/products?page=1&x-api-key=${secret}&X-Amz-Signature=${amzSignature}`,
        { headers: { 'x-request-id': 'traced-key-1' } },
      );
      expect(keyed.status).toBe(401);

      // An image imported from a shop's signed link: the link's token is in no span either.
      const token = 'signed-link-token-0123456789abcdef';
      // Its client's trace context, taken as the parent of the request's spans.
      const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
      const imported = await importByUrl(base, `${images.origin}/front.png?w=1&token=${token}`, {
        traceparent: `00-${callerTrace}-00f067aa0ba902b7-01`,
        tracestate: 'vendor=client-chosen',
        baggage: 'user.role=admin',
      });
      expect(imported.status).toBe(200);
      // The shop's host is not ours: neither our trace ids nor the client's tracestate go to it.
      expect(images.received).toHaveLength(1);
      const { traceparent, tracestate, baggage } = images.received[0];
      expect({ traceparent, tracestate, baggage }).toEqual({
        traceparent: undefined,
        tracestate: undefined,
        baggage: undefined,
      });

      const withId = (id: string) =>
        collector.spans.filter((span) => span.attributes['request.id'] === id);
      const importTrace = () => {
        const server = withId(imported.headers.get('x-request-id')!)[0];
        return collector.spans.filter((span) => span.traceId === server?.traceId);
      };
      const fetched = () =>
        importTrace().find((span) => String(span.attributes['url.full']).includes('/front.png'));
      await eventually(
        () =>
          withId('traced-login-1').length >= 2 &&
          withId(generated!).length >= 2 &&
          withId('traced-key-1').length >= 2 &&
          fetched() !== undefined,
        'the spans of the four requests, and of the image fetched',
      );
      // Its fetch is a span all the same, of the trace its client's traceparent began.
      expect(fetched()!.traceId).toBe(callerTrace);
      expect(JSON.stringify(importTrace())).not.toContain(token);
      expect(fetched()!.attributes['url.full']).toBe(
        `${images.origin}/front.png?w=1&token=[REDACTED]`,
      );
      const keyedSpans = withId('traced-key-1');
      expect(JSON.stringify(keyedSpans)).not.toContain(secret);
      expect(JSON.stringify(keyedSpans)).not.toContain(amzSignature);
      expect(keyedSpans.map((span) => span.attributes['url.path'])).toContain('/api/v1/products');
      expect(keyedSpans.map((span) => span.attributes['url.query'])).toContain(
        'page=1&x-api-key=[REDACTED]&X-Amz-Signature=[REDACTED]',
      );

      // The HTTP server span and Fastify's request span both carry the id, in one trace.
      const login1 = withId('traced-login-1');
      expect(login1.map((s) => s.scope).sort()).toEqual([
        '@fastify/otel',
        '@opentelemetry/instrumentation-http',
      ]);
      expect(new Set(login1.map((s) => s.traceId)).size).toBe(1);
      const server = login1.find((s) => s.scope === '@opentelemetry/instrumentation-http')!;
      expect(server).toMatchObject({
        name: 'POST /api/v1/auth/login',
        attributes: { 'http.route': '/api/v1/auth/login', 'http.response.status_code': 401 },
      });
      expect(withId(generated!)[0].traceId).not.toBe(login1[0].traceId);
      // On a PostgreSQL server, the login's queries are spans of its trace.
      if (db.env.DATABASE_URL) {
        const queries = collector.spans.filter(
          (s) => s.traceId === login1[0].traceId && s.scope === '@opentelemetry/instrumentation-pg',
        );
        expect(queries.length).toBeGreaterThanOrEqual(1);
      }
      expect(collector.resources[0]).toMatchObject({ 'service.name': 'images-under-test' });
      // Probes are not traced.
      expect(collector.spans.filter((s) => String(s.name).includes('/health'))).toEqual([]);
    } finally {
      service?.child.kill('SIGTERM');
      await service?.exit;
      collector.server.close();
      images.server.close();
    }
    expect(service.output()).not.toMatch(/"level":50/);
  });

  it('loads nothing of the SDK when tracing is off', async () => {
    const script = `
      const { startTracing } = require('./dist/src/tracing/tracing.js');
      startTracing({ OTEL_SERVICE_NAME: 'x' }).then((tracing) => {
        const loaded = Object.keys(require.cache).filter((path) => path.includes('@opentelemetry'));
        console.log(JSON.stringify({ started: tracing !== undefined, loaded }));
      });`;
    const { stdout } = await execFileAsync(process.execPath, ['-e', script], {
      cwd: ROOT,
      env: inheritedEnv(),
    });
    expect(JSON.parse(stdout)).toEqual({ started: false, loaded: [] });
  });
});
