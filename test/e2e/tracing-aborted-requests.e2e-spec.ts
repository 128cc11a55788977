import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockedBackend, holdLock } from '../support/db-faults';
import { eventually } from '../support/eventually';
import {
  freePort,
  loginOverHttp,
  startReadyService,
  type RunningService,
} from '../support/process';
import { RawClient } from '../support/slow-client';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

interface ReceivedSpan {
  name: string;
  scope: string;
  status?: { code?: number };
  attributes: Record<string, unknown>;
}

type OtlpValue = { stringValue?: string; intValue?: number | string };
type OtlpSpan = Omit<ReceivedSpan, 'scope' | 'attributes'> & {
  attributes?: { key: string; value: OtlpValue }[];
};
interface OtlpExport {
  resourceSpans: { scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[] }[];
}

/** An OTLP/HTTP collector on loopback that keeps the spans posted to /v1/traces. */
async function fakeCollector(): Promise<{ server: Server; url: string; spans: ReceivedSpan[] }> {
  const spans: ReceivedSpan[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as OtlpExport;
      for (const { scopeSpans } of body.resourceSpans ?? []) {
        for (const { scope, spans: list } of scopeSpans) {
          for (const { attributes = [], ...span } of list) {
            const flat = attributes.map(({ key, value }) => [
              key,
              value.stringValue ?? Number(value.intValue),
            ]);
            spans.push({ ...span, scope: scope.name, attributes: Object.fromEntries(flat) });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans };
}

const ADMIN = { email: 'aborted@test.example', password: 'tracing-admin-password' };

/**
 * The spans of a request whose client left before its answer (a slow read a proxy gave up on):
 * exported as those of any other request, and not saying it was answered 200.
 */
describe('Tracing of requests whose client left (OpenTelemetry)', () => {
  let cwd: string;
  let db: TestDatabase;
  let collector: Awaited<ReturnType<typeof fakeCollector>>;
  let service: RunningService | undefined;
  let base: string;
  let port: number;

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'pis-tracing-aborted-'));
    db = await createTestDatabase();
    collector = await fakeCollector();
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    service = await startReadyService(
      {
        ...db.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        NODE_ENV: 'test',
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        ADMIN_EMAIL: ADMIN.email,
        ADMIN_PASSWORD: ADMIN.password,
      },
      cwd,
      base,
    );
  });
  afterAll(async () => {
    service?.child.kill('SIGTERM');
    await service?.exit;
    collector?.server.close();
    await db?.drop();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('exports the spans of a request whose client left before its answer, not as a 200', async () => {
    const authorization = `Bearer ${await loginOverHttp(base, ADMIN)}`;
    const created = await fetch(`${base}/api/v1/products`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Left' }),
    });
    const { id } = (await created.json()) as { id: string };
    const lock = await holdLock(
      db.env.DATABASE_URL,
      'LOCK TABLE products IN ACCESS EXCLUSIVE MODE',
    );
    try {
      const client = await RawClient.connect(port);
      await client.write(
        `GET /api/v1/products/${id} HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\n` +
          'X-Request-Id: left-before-its-answer\r\n\r\n',
      );
      await blockedBackend(db.env.DATABASE_URL, /products/);
      client.socket.destroy();
      await client.closed;
    } finally {
      await lock.release();
    }
    const spans = () =>
      collector.spans.filter((span) => span.attributes['request.id'] === 'left-before-its-answer');
    await eventually(() => spans().length >= 2, 'the spans of the request left');
    expect(
      spans()
        .map((span) => span.scope)
        .sort(),
    ).toEqual(['@fastify/otel', '@opentelemetry/instrumentation-http']);
    // As its metrics count it: 499, the client closed the request; not the 200 it never got.
    expect(spans().map((span) => span.attributes['http.response.status_code'])).toEqual([499, 499]);
  });
});
