import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { ProbeController, ProbeModule } from '../support/probe/probe.module';
import { eventually as eventuallyHolds } from '../support/eventually';
import { eventually, parseRawResponse, RawClient, type RawResponse } from '../support/slow-client';
import { call, login } from '../support/http';
import { closedPort } from '../support/storage-backends';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

const PROBLEM = /^application\/problem\+json/;

function expectProblem(
  res: { statusCode: number; headers: Record<string, unknown>; json(): unknown; body: string },
  status: number,
  code: string,
): Record<string, unknown> {
  expect(res.statusCode).toBe(status);
  expect(res.headers['content-type']).toMatch(PROBLEM);
  const body = res.json() as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, type: `urn:product-images:problem:${code}` });
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  expect(Array.isArray(body.errors)).toBe(true);
  expect(body.request_id).toBe(res.headers['x-request-id']);
  expect(res.body).not.toMatch(/\bat \S+ \(|node_modules|stack/);
  return body;
}

describe('HTTP contract (problem+json, request ids, headers)', () => {
  let t: TestApp;
  let app: NestFastifyApplication;

  beforeAll(async () => {
    t = await startTestApp({ JSON_BODY_LIMIT_BYTES: '2048' }, { imports: [ProbeModule] });
    app = t.app;
  });
  afterAll(() => t.close());

  it('answers an unknown route with 404 route_not_found', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/no-such-thing' });
    expectProblem(res, 404, 'route_not_found');
  });

  it('names an unknown route without its query string: a key sent in it is not echoed', async () => {
    for (const method of ['GET', 'OPTIONS'] as const) {
      const res = await app.inject({
        method,
        url: '/api/v1/no-such-thing?x-api-key=pis_SECRETKY_hunter2&token=abc',
      });
      expectProblem(res, 404, 'route_not_found');
      expect(res.json<{ detail: string }>().detail).toBe(
        `No route matches ${method} /api/v1/no-such-thing.`,
      );
    }
  });

  it('answers a path served under other methods with 405 and Allow, before reading anything', async () => {
    const productId = '00000000-0000-4000-8000-000000000001';
    const cases: [string, string, string][] = [
      ['DELETE', '/api/v1/products', 'GET, HEAD, POST, OPTIONS'],
      ['PUT', `/api/v1/products/${productId}?x=1`, 'GET, HEAD, PATCH, DELETE, OPTIONS'],
      ['GET', '/api/v1/auth/login', 'POST, OPTIONS'],
      ['POST', '/media/products/a/b/original.jpg', 'GET, HEAD, OPTIONS'],
    ];
    for (const [method, url, allow] of cases) {
      // No credentials and a body that is not JSON: the method is judged first, the body unread.
      const res = await app.inject({
        method: method as 'GET',
        url,
        headers: { 'content-type': 'application/json' },
        ...(method === 'GET' ? {} : { payload: '{not json' }),
      });
      const body = expectProblem(res, 405, 'method_not_allowed');
      expect(res.headers.allow).toBe(allow);
      expect(body.detail).toBe(
        `${method} is not allowed on ${url.split('?')[0]}; it takes ${allow}.`,
      );
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    // OPTIONS asks which methods: answered, 204 with Allow.
    const options = await app.inject({ method: 'OPTIONS', url: '/api/v1/products' });
    expect(options.statusCode).toBe(204);
    expect(options.headers.allow).toBe('GET, HEAD, POST, OPTIONS');
    expect(options.headers['x-request-id']).toBeDefined();
    // A path no method serves is still 404, to OPTIONS too.
    for (const method of ['DELETE', 'OPTIONS'] as const) {
      const res = await app.inject({ method, url: '/api/v1/nothing' });
      expectProblem(res, 404, 'route_not_found');
    }
  });

  it('names the same methods in the Allow of OPTIONS as in that of a 405 on the path', async () => {
    const productId = '00000000-0000-4000-8000-000000000001';
    const cases: [string, string, string][] = [
      ['/api/v1/products', 'DELETE', 'GET, HEAD, POST, OPTIONS'],
      [`/api/v1/products/${productId}`, 'PUT', 'GET, HEAD, PATCH, DELETE, OPTIONS'],
      ['/api/v1/auth/login', 'GET', 'POST, OPTIONS'],
      ['/media/products/a/b/original.jpg', 'POST', 'GET, HEAD, OPTIONS'],
      // The compatible APIs': Inventorum's, with and without its slash, and the token API's.
      ['/api/images/', 'GET', 'POST, OPTIONS'],
      ['/api/images', 'DELETE', 'POST, OPTIONS'],
      ['/api/products/123/images', 'PUT', 'POST, OPTIONS'],
    ];
    for (const [url, wrongMethod, allow] of cases) {
      const options = await app.inject({ method: 'OPTIONS', url });
      const wrong = await app.inject({ method: wrongMethod as 'GET', url });
      expect({ url, options: options.statusCode, wrong: wrong.statusCode }).toEqual({
        url,
        options: 204,
        wrong: 405,
      });
      expect({ url, options: options.headers.allow, wrong: wrong.headers.allow }).toEqual({
        url,
        options: allow,
        wrong: allow,
      });
    }
  });

  it('answers malformed JSON with 400 malformed_json', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/probe/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"name": "a",',
    });
    expectProblem(res, 400, 'malformed_json');
  });

  it('parses a JSON body on routes that take none too, with the answers their documents list', async () => {
    // The response recorder checks each answer against openapi.json: 400 is documented here too.
    const bearer = await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
    for (const url of ['/api/v1/renditions/rebuilds', '/api/v1/auth/logout']) {
      const res = await call(app, 'POST', url, { bearer }, '{"x":', {
        headers: { 'content-type': 'application/json' },
      });
      expectProblem(res, 400, 'malformed_json');
    }
  });

  it('refuses prototype poisoning in JSON', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/probe/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"name": "a", "__proto__": {"admin": true}}',
    });
    const body = expectProblem(res, 400, 'malformed_json');
    const detail =
      'The request body has a "__proto__" key, or a "constructor" key holding a "prototype": ' +
      'refused, though valid JSON.';
    expect(body.detail).toBe(detail);
    const constructor = await app.inject({
      method: 'POST',
      url: '/api/v1/probe/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"name": "a", "constructor": {"prototype": {"admin": true}}}',
    });
    expect(expectProblem(constructor, 400, 'malformed_json').detail).toBe(detail);
  });

  it('refuses a JSON body that is no object (null, a list, a number, a string, true), saying which', async () => {
    const cases: [string, string][] = [
      // null is not read as an empty body.
      ['null', 'null'],
      [' null ', 'null'],
      ['[]', 'a list'],
      ['[{"name": "a"}]', 'a list'],
      ['5', 'a number'],
      ['"a"', 'a string'],
      ['true', 'true'],
    ];
    for (const [payload, what] of cases) {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/probe/echo',
        headers: { 'content-type': 'application/json' },
        payload,
      });
      const body = expectProblem(res, 400, 'validation_failed');
      expect([payload, body.errors]).toEqual([
        payload,
        [{ field: 'body', message: `must be a JSON object, not ${what}` }],
      ]);
    }
  });

  it('reads an empty JSON body as no body: taken where none is needed, else what is missing', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/probe/echo',
      headers: { 'content-type': 'application/json' },
      payload: ' ',
    });
    const body = expectProblem(res, 400, 'validation_failed');
    expect(body.errors).toEqual([{ field: 'name', message: 'is required' }]);
    // A body-less route, as clients sending Content-Type: application/json on every request call it.
    const token = await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const me = await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: auth });
    expect(me.statusCode).toBe(200);
    const logout = await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: auth });
    expect(logout.statusCode).toBe(204);
  });

  it('answers a JSON body over JSON_BODY_LIMIT_BYTES with 413 payload_too_large', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/probe/echo',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'a', padding: 'x'.repeat(4096) }),
    });
    const body = expectProblem(res, 413, 'payload_too_large');
    expect(body.detail).toBe('The request body is larger than this endpoint accepts.');
  });

  it('answers an unsupported content type with 415 unsupported_media_type', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/probe/echo',
        headers: { 'content-type': type },
        payload: 'name=a',
      });
      const body = expectProblem(res, 415, 'unsupported_media_type');
      expect(body.detail).toMatch(/^This endpoint does not accept the Content-Type that was sent/);
    }
  });

  it('answers invalid and unknown fields with 400 validation_failed and field errors', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/probe/echo',
      payload: { name: 'far too long a name', priority: -1, is_admin: true },
    });
    const body = expectProblem(res, 400, 'validation_failed');
    const fields = (body.errors as { field: string }[]).map((e) => e.field).sort();
    expect(fields).toEqual(['is_admin', 'name', 'priority']);
  });

  it('refuses properties named like Object.prototype members, as any unknown property', async () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/probe/echo',
        payload: { name: 'a', [name]: 1 },
      });
      const body = expectProblem(res, 400, 'validation_failed');
      expect(body.errors).toEqual([{ field: name, message: `property ${name} should not exist` }]);
    }
    const bearer = await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
    for (const query of ['constructor=1', 'toString=x', '__proto__=1', 'limit=5&valueOf=1']) {
      const res = await call(app, 'GET', `/api/v1/products?${query}`, { bearer });
      expect([query, res.statusCode, res.json().code]).toEqual([query, 400, 'validation_failed']);
    }
    // Values of that name, and such names as values, are nothing special.
    const listed = await call(app, 'GET', '/api/v1/products?slug=constructor', { bearer });
    expect(listed.statusCode).toBe(200);
  });

  it('passes valid JSON through, snake_case preserved', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/probe/echo',
      payload: { name: 'ok', priority: 2 },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ name: 'ok', priority: 2 });
  });

  it('answers an unexpected exception with a bare 500 that reveals nothing', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/probe/boom' });
    const body = expectProblem(res, 500, 'internal_error');
    expect(body.detail).toBe('An unexpected error occurred.');
    expect(res.body).not.toMatch(/ECONNREFUSED|10\.1\.2\.3|5432|pg/);
  });

  it('echoes an acceptable X-Request-Id and replaces a hostile one', async () => {
    const kept = await app.inject({
      method: 'GET',
      url: '/health',
      headers: { 'x-request-id': 'trace-42' },
    });
    expect(kept.headers['x-request-id']).toBe('trace-42');
    const replaced = await app.inject({
      method: 'GET',
      url: '/api/v1/nope',
      headers: { 'x-request-id': 'evil value\twith tabs' },
    });
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(replaced.json().request_id).toBe(replaced.headers['x-request-id']);
  });

  it('sends security headers, with a strict CSP on the API and a relaxed one only on /docs', async () => {
    const api = await app.inject({ method: 'GET', url: '/health' });
    expect(api.headers['x-content-type-options']).toBe('nosniff');
    expect(api.headers['strict-transport-security']).toBeDefined();
    expect(api.headers['content-security-policy']).toContain("default-src 'none'");
    const docs = await app.inject({ method: 'GET', url: '/docs' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toMatch(/text\/html/);
    expect(docs.headers['content-security-policy']).toContain("script-src 'self'");
    expect(docs.headers['content-security-policy']).not.toContain("default-src 'none'");
  });

  it('lets nothing frame its pages: X-Frame-Options DENY, as the CSP frame-ancestors none says', async () => {
    // A browser that reads only X-Frame-Options (no CSP frame-ancestors) was told SAMEORIGIN, so a
    // page of the service's own origin (an uploaded SVG opened in /media, say) could frame the
    // console or Swagger UI, which the README says nothing may.
    for (const url of ['/health', '/docs', '/console', '/api/v1/no-such-thing']) {
      const res = await app.inject({ method: 'GET', url });
      expect([url, res.headers['x-frame-options']]).toEqual([url, 'DENY']);
    }
  });

  it('keeps answers to a request with a credential out of shared caches: no-store', async () => {
    const bearer = await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
    const key = await call(app, 'POST', '/api/v1/api-keys', { bearer }, { name: 'cache probe' });
    expect(key.statusCode).toBe(201);
    const apiKey = key.json<{ key: string }>().key;
    for (const [how, headers, url] of [
      ['a token', { authorization: `Bearer ${bearer}` }, '/api/v1/products'],
      ['a key', { 'x-api-key': apiKey }, '/api/v1/products/by-gtin/4006381333931'],
      ['a key as Authorization', { authorization: `Token ${apiKey}` }, '/api/v1/auth/me'],
      ['a wrong key', { 'x-api-key': 'pis_nope' }, '/api/v1/products'],
      ['a key in the query', {}, `/api/v1/products?x-api-key=${apiKey}`],
    ] as const) {
      const res = await app.inject({ method: 'GET', url, headers });
      expect({ how, cacheControl: res.headers['cache-control'] }).toEqual({
        how,
        cacheControl: 'no-store',
      });
    }
    // Without one, nothing is said (the delivery routes, which say their own, are in delivery).
    const anonymous = await app.inject({ method: 'GET', url: '/health' });
    expect(anonymous.headers['cache-control']).toBeUndefined();
  });

  it('serves the OpenAPI document with the shared problem+json schema', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs-json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.paths['/health/ready']).toBeDefined();
    expect(doc.components.schemas.ProblemDetailsDto.properties).toHaveProperty('code');
    expect(doc.components.schemas.ProblemDetailsDto.properties.code.enum).toContain(
      'malformed_json',
    );
    // Every {param} of every path is declared, and every $ref resolves.
    for (const [path, item] of Object.entries<
      Record<string, { parameters?: { name: string; in: string }[] }>
    >(doc.paths)) {
      const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const op of Object.values(item)) {
        for (const name of names) {
          expect(op.parameters?.some((p) => p.in === 'path' && p.name === name)).toBe(true);
        }
      }
    }
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)];
    for (const [, name] of refs) expect(doc.components.schemas[name]).toBeDefined();
  });

  it('reports liveness and database readiness', async () => {
    const live = await app.inject({ method: 'GET', url: '/health' });
    expect(live.statusCode).toBe(200);
    expect(live.json()).toEqual({ status: 'ok' });
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({
      status: 'ok',
      details: {
        database: { status: 'up' },
        storage: { status: 'up', driver: 'local' },
        spool: { status: 'up' },
      },
    });
  });

  it('lets an in-flight request finish when the application closes', async () => {
    // A separate instance, so closing it does not end this suite's.
    const other = await startTestApp({}, { imports: [ProbeModule] });
    await other.app.listen({ port: 0, host: '127.0.0.1' });
    const address = other.app.getHttpServer().address() as { port: number };
    const started = new Promise<void>((resolve) => (ProbeController.slowRequestStarted = resolve));
    const inFlight = fetch(`http://127.0.0.1:${address.port}/api/v1/probe/slow`);
    await started;
    const closed = other.close();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ finished: true });
    await closed;
    await expect(fetch(`http://127.0.0.1:${address.port}/health`)).rejects.toThrow();
  });
});

describe('Readiness when the database is gone', () => {
  it('answers 503 not_ready naming the database, not what failed (hosts, ports: the log has it)', async () => {
    const t = await startTestApp();
    try {
      await t.app.get(DataSource).destroy();
      const res = await t.app.inject({ method: 'GET', url: '/health/ready' });
      const body = expectProblem(res, 503, 'not_ready');
      expect(body.checks).toEqual({
        database: { status: 'down' },
        storage: { status: 'up', driver: 'local' },
        spool: { status: 'up' },
      });
      expect(res.headers['retry-after']).toBeDefined();
    } finally {
      await t.app.close().catch(() => undefined);
      await t.db.drop();
    }
  });
});

describe('Start-up when the database does not answer', () => {
  it('fails naming DATABASE_URL, never echoing it', async () => {
    const port = await closedPort();
    const start = startTestApp({
      DATABASE_URL: `postgres://images:not-to-be-echoed@127.0.0.1:${port}/images`,
    });
    await expect(start).rejects.toThrow(
      new RegExp(
        `^Database \\(DATABASE_URL\\) is not usable: .*ECONNREFUSED 127\\.0\\.0\\.1:${port}`,
      ),
    );
    await expect(start).rejects.not.toThrow(/not-to-be-echoed/);
  });
});

describe('CORS', () => {
  it('is off by default, and allows exactly the configured origins', async () => {
    const off = await startTestApp();
    try {
      const res = await off.app.inject({
        method: 'OPTIONS',
        url: '/api/v1/auth/me',
        headers: { origin: 'https://shop.example', 'access-control-request-method': 'GET' },
      });
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await off.close();
    }
    const on = await startTestApp({ CORS_ORIGINS: 'https://shop.example, https://admin.example' });
    try {
      const preflight = await on.app.inject({
        method: 'OPTIONS',
        url: '/api/v1/auth/me',
        headers: {
          origin: 'https://shop.example',
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization',
        },
      });
      expect(preflight.statusCode).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe('https://shop.example');
      const actual = await on.app.inject({
        url: '/health',
        headers: { origin: 'https://admin.example' },
      });
      expect(actual.headers['access-control-allow-origin']).toBe('https://admin.example');
      expect(actual.headers['access-control-expose-headers']).toContain('X-Request-Id');
      const stranger = await on.app.inject({
        url: '/health',
        headers: { origin: 'https://evil.example' },
      });
      expect(stranger.headers['access-control-allow-origin']).toBeUndefined();
      // CORS answers OPTIONS on every path: a path only it serves is still 404 to other methods,
      // and a 405 carries CORS's headers, for a browser to read it.
      const nowhere = await on.app.inject({ method: 'DELETE', url: '/api/v1/nothing' });
      expect(nowhere.statusCode).toBe(404);
      const wrong = await on.app.inject({
        method: 'DELETE',
        url: '/api/v1/auth/me',
        headers: { origin: 'https://shop.example' },
      });
      expect(wrong.statusCode).toBe(405);
      expect(wrong.headers.allow).toBe('GET, HEAD, OPTIONS');
      expect(wrong.headers['access-control-allow-origin']).toBe('https://shop.example');
      // An OPTIONS that is no preflight (no Origin, or no method asked for) asks which methods
      // a path takes, as with CORS off: 204 with Allow, 404 where nothing is served.
      for (const headers of [{}, { origin: 'https://shop.example' }]) {
        const options = await on.app.inject({
          method: 'OPTIONS',
          url: '/api/v1/products',
          headers,
        });
        expect(options.statusCode).toBe(204);
        expect(options.headers.allow).toBe('GET, HEAD, POST, OPTIONS');
        expectProblem(
          await on.app.inject({ method: 'OPTIONS', url: '/api/v1/nothing', headers }),
          404,
          'route_not_found',
        );
      }
    } finally {
      await on.close();
    }
  });
});

describe("What Node's HTTP server refused by itself", () => {
  let t: TestApp;
  let port: number;

  beforeAll(async () => {
    t = await startTestApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.getHttpServer().address() as { port: number }).port;
  });
  afterAll(() => t?.close());

  async function send(head: string): Promise<RawResponse> {
    const client = await RawClient.connect(port);
    await client.write(head);
    const answer = await client.answered(10_000);
    client.destroy();
    if (!answer) throw new Error(`no answer to ${JSON.stringify(head)}`);
    return answer;
  }

  it('an HTTP/1.1 request without Host: 400 problem+json, with a request id and the headers', async () => {
    // Refused before routing, on any path: one no route documents keeps the OpenAPI check quiet.
    const { status, headers, body } = await send('GET /no/such/route HTTP/1.1\r\n\r\n');
    expect(status).toBe(400);
    expect(headers['content-type']).toMatch(PROBLEM);
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(JSON.parse(body)).toMatchObject({
      code: 'bad_request',
      detail: 'An HTTP/1.1 request must have a Host header.',
      request_id: headers['x-request-id'],
    });
    // HTTP/1.0 has no Host to require.
    expect((await send('GET /health HTTP/1.0\r\n\r\n')).status).toBe(200);
  });

  it('an Expect it does not know is ignored, and 100-continue still answered', async () => {
    const junk = await send('GET /health HTTP/1.1\r\nHost: a\r\nExpect: junk\r\n\r\n');
    expect(junk.status).toBe(200);
    const body = '{"email":"nobody@test.example","password":"not-the-password"}';
    const client = await RawClient.connect(port);
    await client.write(
      'POST /api/v1/auth/login HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
    );
    const interim = await client.answered(10_000);
    expect(interim?.status).toBe(100);
    client.destroy();
  });

  it('sends 100 Continue only to a caller the route admits: others get their refusal first', async () => {
    const client = await RawClient.connect(port);
    await client.write(
      'POST /api/v1/products HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n' +
        'Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n',
    );
    const answer = await client.answered(10_000);
    client.destroy();
    expect(answer?.status).toBe(401);
    expect(answer?.headers['content-type']).toMatch(PROBLEM);
  });

  it('refuses a transfer coding other than chunked: 501, the body unread, the connection closed', async () => {
    const json = '{"email":"nobody@test.example","password":"not-the-password"}';
    const chunked = `${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`;
    const head = (codings: string) =>
      'POST /api/v1/auth/login HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n' +
      `Transfer-Encoding: ${codings}\r\n\r\n`;
    // Node unframes the chunks and ignores the gzip: the body was read as if it were not there.
    for (const codings of ['gzip, chunked', 'identity, chunked']) {
      const { status, headers, body } = await send(head(codings) + chunked);
      expect({ codings, status }).toEqual({ codings, status: 501 });
      expect(headers['content-type']).toMatch(PROBLEM);
      expect(headers.connection).toBe('close');
      expect(JSON.parse(body)).toMatchObject({
        code: 'unsupported_transfer_coding',
        request_id: headers['x-request-id'],
      });
    }
    // chunked alone, in any case, is read as always (the login is refused for its password).
    const read = await send(head('Chunked') + chunked);
    expect(JSON.parse(read.body)).toMatchObject({ code: 'invalid_login' });
  });

  it('refuses a request with two Host headers: 400, as RFC 9112 asks', async () => {
    const { status, headers, body } = await send(
      'GET /no/such/route HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n',
    );
    expect(status).toBe(400);
    expect(headers['content-type']).toMatch(PROBLEM);
    expect(JSON.parse(body)).toMatchObject({
      code: 'bad_request',
      detail: 'A request may have one Host header only.',
    });
  });

  // The parser meets the second request in the bytes that carry the first: the 400 used to be
  // written at once, in the place of the first one's answer, which its client took for it (a POST
  // so answered was still committed: a client that sends it again makes it twice).
  it('answers a request pipelined before a malformed one, then refuses that one and closes', async () => {
    const client = await RawClient.connect(port);
    await client.write('GET /health HTTP/1.1\r\nHost: a\r\n\r\nNOT HTTP AT ALL\r\n\r\n');
    await Promise.race([client.closed, sleep(10_000)]);
    expect(client.closedAt).toBeDefined();
    const answers: RawResponse[] = [];
    let rest = client.received();
    for (let next = parseRawResponse(rest); next; next = parseRawResponse(rest)) {
      answers.push(next);
      rest = rest.subarray(rest.indexOf('\r\n\r\n') + 4 + Buffer.byteLength(next.body));
    }
    expect(answers.map((a) => a.status)).toEqual([200, 400]);
    expect(answers[1].headers['content-type']).toMatch(PROBLEM);
    expect(JSON.parse(answers[1].body)).toMatchObject({ code: 'bad_request' });
  });

  it('answers OPTIONS * with every method the service takes', async () => {
    const { status, headers } = await send('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(status).toBe(204);
    expect(headers.allow).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
  });
});

/**
 * HTTP/1.1 pipelining: requests sent one after another without waiting, answered in order. Node
 * hands over every request of a packet at once, and each answer, made whole, waited in memory for
 * those before it: 400 requests for the 1 MB API document, 14 KB sent by a client that read
 * nothing, held 800 MB of the service's memory until the connection was cut.
 */
describe('Pipelined requests', () => {
  let t: TestApp;
  let port: number;
  let bearer: string;

  beforeAll(async () => {
    t = await startTestApp({}, { imports: [ProbeModule] });
    bearer = await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.getHttpServer().address() as { port: number }).port;
  });
  afterAll(() => t?.close());

  const named = async (name: string) => {
    const res = await call(t.app, 'GET', '/api/v1/products?limit=100', { bearer });
    return res.json<{ items: { name: string }[] }>().items.some((p) => p.name === name);
  };

  it('are served in turn: one is not run while the answers before it wait for the client', async () => {
    const accepted = once(t.app.getHttpServer(), 'connection');
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const [served] = (await accepted) as [Socket];
    socket.pause(); // reads nothing until told
    const body = JSON.stringify({ name: 'Pipelined' });
    const post =
      'POST /api/v1/products HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n' +
      `Authorization: Bearer ${bearer}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    socket.write('GET /docs-json HTTP/1.1\r\nHost: a\r\n\r\n'.repeat(40) + post);
    await sleep(1500);
    // 40 MB of answers, more than the connection's buffers hold: the POST has not been run.
    expect(await named('Pipelined')).toBe(false);
    // However many wait: not a listener each on the connection (Node warns past 10).
    expect(served.listenerCount('close')).toBeLessThan(10);
    let received = '';
    socket.on('data', (chunk: Buffer) => (received = received.slice(-1000) + chunk.toString()));
    socket.resume();
    expect(await eventually(() => received.includes('"name":"Pipelined"'), 30_000)).toBe(true);
    socket.destroy();
    expect(await named('Pipelined')).toBe(true);
  });

  it('starts one request at once behind an answer all written but not yet out, and only one', async () => {
    // A keep-alive client sends its next request as soon as it has read an answer, often before
    // the service has seen that answer go out: that one starts at once (no turn lost). A client
    // reading nothing gets no more than that one run beyond the answer ahead.
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.pause();
    const post = (name: string) => {
      const body = JSON.stringify({ name });
      return (
        'POST /api/v1/products HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n' +
        `Authorization: Bearer ${bearer}\r\nContent-Length: ${body.length}\r\n\r\n${body}`
      );
    };
    socket.write('GET /api/v1/probe/large HTTP/1.1\r\nHost: a\r\n\r\n');
    await sleep(1000); // answered whole, and stuck in the connection's buffers
    socket.write(post('Early one'));
    await eventuallyHolds(
      () => named('Early one'),
      'the request after the answer to start',
      10_000,
    );
    socket.write(post('Early two'));
    await sleep(1000);
    expect(await named('Early two')).toBe(false);
    let received = '';
    socket.on('data', (chunk: Buffer) => (received = received.slice(-1000) + chunk.toString()));
    socket.resume();
    expect(await eventually(() => received.includes('"name":"Early two"'), 30_000)).toBe(true);
    socket.destroy();
  });

  it('those still waiting when their client leaves are not run at all', async () => {
    let started = 0;
    ProbeController.slowRequestStarted = () => started++;
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.pause();
    const slow = 'GET /api/v1/probe/slow HTTP/1.1\r\nHost: a\r\n\r\n';
    socket.write('GET /docs-json HTTP/1.1\r\nHost: a\r\n\r\n'.repeat(40) + slow.repeat(5));
    await sleep(1000);
    socket.destroy();
    await sleep(1500);
    expect(started).toBe(0);
  });
});
