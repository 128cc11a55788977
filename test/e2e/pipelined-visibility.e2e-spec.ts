import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { ProbeController, ProbeModule } from '../support/probe/probe.module';
import { eventually } from '../support/eventually';
import { call } from '../support/http';
import { metricValue } from '../support/metrics';
import { RawClient } from '../support/slow-client';
import { startTestApp, type TestApp } from '../support/test-app';

const TOKEN = 'metrics-token-for-the-tests-0123456789';

/**
 * Pipelined requests the service never ran, or refused, are in the log and the metrics as any
 * other: those dropped because their client left before their turn (pipelining.ts), as 499, and
 * a malformed one behind a request being answered, as a refusal by the parser, once.
 */
describe('Pipelined requests dropped or refused', () => {
  let t: TestApp;
  let port: number;
  let logged: { level: string; fields: Record<string, unknown>; message: string }[];
  const spies: jest.SpyInstance[] = [];

  beforeAll(async () => {
    t = await startTestApp({ METRICS_TOKEN: TOKEN }, { imports: [ProbeModule] });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.getHttpServer().address() as { port: number }).port;
  });
  afterAll(() => t?.close());

  beforeEach(() => {
    logged = [];
    for (const level of ['log', 'warn'] as const) {
      spies.push(
        jest
          .spyOn(Logger.prototype, level)
          .mockImplementation((...[fields, message]: unknown[]) => {
            if (typeof fields === 'object' && fields !== null) {
              logged.push({
                level,
                fields: fields as Record<string, unknown>,
                message: String(message),
              });
            }
          }),
      );
    }
  });
  afterEach(() => spies.splice(0).forEach((spy) => spy.mockRestore()));

  const metrics = async () => (await call(t.app, 'GET', '/metrics', { bearer: TOKEN })).body;

  it('logs each request dropped when its client left, with its id, and counts it as 499', async () => {
    const slowRoute = { route: '/api/v1/probe/slow', status_code: '499' };
    const count = 'http_request_duration_seconds_count';
    const before = metricValue(await metrics(), count, slowRoute);
    let started = 0;
    ProbeController.slowRequestStarted = () => started++;
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.pause();
    const slow = 'GET /api/v1/probe/slow?page=1 HTTP/1.1\r\nHost: a\r\n\r\n';
    socket.write('GET /docs-json HTTP/1.1\r\nHost: a\r\n\r\n'.repeat(40) + slow.repeat(5));
    await sleep(1000);
    socket.destroy();
    const droppedSlow = () =>
      logged.filter((l) => l.fields.url === '/api/v1/probe/slow?page=1' && l.level === 'log');
    await eventually(async () => droppedSlow().length === 5, 'the dropped requests logged');
    expect(started).toBe(0);
    const ids = droppedSlow().map((l) => l.fields.request_id);
    expect(new Set(ids).size).toBe(5);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(droppedSlow()[0]).toMatchObject({
      fields: { method: 'GET', status: 499 },
      message: expect.stringMatching(/pipelined request dropped/i),
    });
    await eventually(
      async () => metricValue(await metrics(), count, slowRoute) - before === 5,
      'the dropped requests counted as 499',
    );
  });

  it('counts a malformed request pipelined behind one being answered as refused, once', async () => {
    const before = metricValue(await metrics(), 'http_requests_refused_total', {
      reason: 'malformed',
    });
    const client = await RawClient.connect(port);
    // Refused once the slow answer before it is out; the parser errs again on every chunk.
    await client.write('GET /api/v1/probe/slow HTTP/1.1\r\nHost: a\r\n\r\nNOT HTTP AT ALL\r\n\r\n');
    await sleep(200);
    await client.write('MORE JUNK\r\n\r\n');
    await sleep(200);
    await client.write('AND MORE\r\n\r\n');
    await Promise.race([client.closed, sleep(10_000)]);
    expect(client.closedAt).toBeDefined();
    const refused = logged.filter((l) => l.level === 'warn' && l.fields.parser_error);
    expect(refused).toHaveLength(1);
    expect(typeof refused[0].fields.request_id).toBe('string');
    const after = metricValue(await metrics(), 'http_requests_refused_total', {
      reason: 'malformed',
    });
    expect(after - before).toBe(1);
  });
});
