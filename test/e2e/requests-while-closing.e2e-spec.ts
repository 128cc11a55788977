import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { RawClient, requestHead } from '../support/slow-client';
import { startTestApp, type TestApp } from '../support/test-app';
import { OpenApiResponseValidator } from '../support/openapi-validator';

const validator = OpenApiResponseValidator.fromFile();

/**
 * A request that arrives while the server closes, on a connection already busy (its headers
 * started before the close): Fastify answered it itself, a bare `{"error":"Service
 * Unavailable",…}` in its own shape, application/json, with no request id, no security headers
 * and nothing to tell a client when to retry, and documented nowhere.
 */
describe('A request arriving while the service shuts down', () => {
  let t: TestApp;

  afterAll(async () => {
    await t?.app.close().catch(() => undefined);
    await t?.db.drop();
  });

  it('is 503 service_unavailable, problem+json, with Retry-After, as documented', async () => {
    t = await startTestApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (t.app.getHttpServer().address() as AddressInfo).port;
    // A request whose body is still coming keeps the close waiting.
    const slow = await RawClient.connect(port);
    await slow.write(
      requestHead('POST', '/api/v1/auth/login', { 'content-type': 'application/json' }, 1000),
    );
    await slow.write('{"email":');
    // Another connection, busy with a request's headers when the close begins.
    const late = await RawClient.connect(port);
    await late.write('GET /api/v1/products HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    await sleep(200);
    const closing = t.app.close();
    await sleep(300);
    await late.write('\r\n');
    const answer = await late.answered(5000);
    slow.destroy();
    late.destroy();
    await closing;

    expect(answer?.status).toBe(503);
    expect(answer!.headers).toMatchObject({
      'content-type': 'application/problem+json; charset=utf-8',
      'retry-after': '1',
      connection: 'close',
      'x-content-type-options': 'nosniff',
    });
    expect(answer!.headers['x-request-id']).toBeTruthy();
    expect(JSON.parse(answer!.body)).toMatchObject({
      status: 503,
      code: 'service_unavailable',
      request_id: answer!.headers['x-request-id'],
    });
    const observed = {
      method: 'GET',
      route: '/api/v1/products',
      status: 503,
      contentType: answer!.headers['content-type'],
      body: answer!.body,
    };
    expect(validator.check(observed).violations).toEqual([]);
  });
});
