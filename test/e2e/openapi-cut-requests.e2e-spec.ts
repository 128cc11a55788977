import type { AddressInfo } from 'node:net';
import { call, login, type Credential } from '../support/http';
import { multipartBody, RawClient, requestHead } from '../support/slow-client';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { OpenApiResponseValidator, type ObservedResponse } from '../support/openapi-validator';

/* eslint-disable @typescript-eslint/no-explicit-any */
const validator = OpenApiResponseValidator.fromFile();
const doc = validator.document as any;
const HEADERS_TIMEOUT_MS = 1000;

/**
 * The answers written on the socket before or beside any route (408 request_timeout for a client
 * too slow to send its request, 431 headers_too_large): the e2e recorder, which checks answers as
 * routes send them, never sees these, so they were documented on no operation, and a client
 * generated from the document had no type for them.
 */
describe('openapi.json documents the answers to cut requests', () => {
  let t: TestApp;
  let port: number;
  let bearer: string;
  let staff: Credential;

  beforeAll(async () => {
    t = await startTestApp({
      HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      HTTP_BODY_MIN_BYTES_PER_SECOND: '2000',
    });
    bearer = await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
    staff = { bearer };
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.getHttpServer().address() as AddressInfo).port;
  });
  afterAll(() => t.close());

  function expectDocumented(method: string, route: string, answer: RawClientAnswer): void {
    const observed: ObservedResponse = {
      method,
      route,
      status: answer.status,
      contentType: answer.headers['content-type'],
      body: answer.body,
    };
    expect(validator.check(observed).violations).toEqual([]);
  }

  it('408 request_timeout: an upload whose body trickles', async () => {
    const product = await call(t.app, 'POST', '/api/v1/products', staff, { name: 'Trickle' });
    expect(product.statusCode).toBe(201);
    const { contentType, head } = multipartBody(Buffer.alloc(0));
    const client = await RawClient.connect(port);
    const path = `/api/v1/products/${product.json<{ id: string }>().id}/images`;
    await client.write(
      requestHead(
        'POST',
        path,
        { 'content-type': contentType, authorization: `Bearer ${bearer}` },
        head.length + 100_000,
      ),
    );
    await client.write(head);
    void client.trickle(Buffer.alloc(100_000, 'A'), 200);
    const answer = await client.answered(HEADERS_TIMEOUT_MS + 8000);
    client.destroy();
    expect(answer?.status).toBe(408);
    expect(JSON.parse(answer!.body).code).toBe('request_timeout');
    expectDocumented('POST', '/api/v1/products/:productId/images', answer!);
  });

  it('408 request_timeout: headers that do not arrive in time, on a read too', async () => {
    const client = await RawClient.connect(port);
    await client.write(`GET /api/v1/products HTTP/1.1\r\nHost: 127.0.0.1\r\n`);
    const answer = await client.answered(HEADERS_TIMEOUT_MS + 8000);
    client.destroy();
    expect(answer?.status).toBe(408);
    expect(JSON.parse(answer!.body).code).toBe('request_timeout');
    expectDocumented('GET', '/api/v1/products', answer!);
  });

  it('431 headers_too_large', async () => {
    const client = await RawClient.connect(port);
    await client.write(
      `GET /api/v1/products HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`,
    );
    const answer = await client.answered(8000);
    client.destroy();
    expect(answer?.status).toBe(431);
    expect(JSON.parse(answer!.body).code).toBe('headers_too_large');
    expectDocumented('GET', '/api/v1/products', answer!);
  });

  it('documents both on every operation', () => {
    const without = validator
      .operations()
      .filter(({ key }) => {
        const [method, path] = key.split(' ');
        const responses = doc.paths[path][method.toLowerCase()].responses;
        return !responses['408'] || !responses['431'];
      })
      .map(({ key }) => key);
    expect(without).toEqual([]);
  });
});

type RawClientAnswer = NonNullable<Awaited<ReturnType<RawClient['answered']>>>;
