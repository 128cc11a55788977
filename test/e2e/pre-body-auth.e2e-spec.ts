import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import jwt from 'jsonwebtoken';
import { Role, Scope } from '../../src/auth/roles';
import { addUser } from '../support/accounts';
import { authHeaders, call, login, type Credential } from '../support/http';
import { anonymousMemory, freePort, ROOT, startService, waitForStatus } from '../support/process';
import { sendWithLargeBody, type EarlyAnswer } from '../support/raw-http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { createTestDatabase } from '../support/test-database';
import { recordMeasurement } from '../support/measurements';

const JWT_SECRET = 'a-test-secret-that-is-at-least-32-characters-long';
const ISSUER = 'product-image-service';
const MB = 1024 * 1024;
/** A body far beyond JSON_BODY_LIMIT_BYTES, within the data-URI route's limit (15 MB images). */
const LARGE = 19 * MB;
const SOME_UUID = '6f1c1a51-8f3e-4a3c-9d6b-2f1e5f0c9a77';
const DATA_URI_PREFIX = '{"image":"data:image/png;base64,';
const BOUNDARY = 'prebodyauth';
const MULTIPART_PREFIX =
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n` +
  'Content-Type: image/png\r\n\r\n';

interface Family {
  name: string;
  method: string;
  path: () => string;
  kind: 'json' | 'data-uri' | 'multipart';
  /** A valid caller this route refuses, and the code it gets. */
  refused: { who: string; code: 'insufficient_role' | 'insufficient_scope' };
}

function bodyOf(kind: Family['kind']): { headers: Record<string, string>; prefix: string } {
  if (kind === 'multipart') {
    return {
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      prefix: MULTIPART_PREFIX,
    };
  }
  return {
    headers: { 'content-type': 'application/json' },
    prefix: kind === 'data-uri' ? DATA_URI_PREFIX : '{"name":"',
  };
}

/** What every refusal made before the body is read looks like on the wire. */
function expectRefusedBeforeBody(answer: EarlyAnswer, status: number, code: string): void {
  expect({ status: answer.status, code: JSON.parse(answer.body).code }).toEqual({ status, code });
  expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(answer.headers.connection).toBe('close');
  expect(answer.closedByServer).toBe(true);
  expect(answer.headers['x-request-id']).toMatch(/\S/);
  expect(JSON.parse(answer.body).request_id).toBe(answer.headers['x-request-id']);
  expect(answer.headers['x-content-type-options']).toBe('nosniff');
  expect(answer.headers['content-security-policy']).toMatch(/default-src 'none'/);
  if (status === 401) {
    expect(answer.headers['www-authenticate']).toMatch(/^Bearer realm="product-image-service"/);
  }
  // Only the prefix went out: the server decided without the body.
  expect(answer.bodyBytesSent).toBeLessThan(64 * 1024);
}

describe('Credentials are checked before any body byte is read', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let port: number;
  const c: Record<string, Credential> = {};
  let productId: string;
  let adminClaims: { sub: string; org: string };

  beforeAll(async () => {
    t = await startTestApp({ JWT_SECRET, API_KEY_QUERY_PARAM: 'true', LOGIN_RATE_LIMIT: '1000' });
    app = t.app;
    const adminToken = await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
    c.admin = { bearer: adminToken };
    adminClaims = jwt.decode(adminToken) as typeof adminClaims;
    c.user = await addUser(app, c.admin, 'ursula', Role.User);
    const key = await call(app, 'POST', '/api/v1/api-keys', c.admin, {
      name: 'admin without management scopes',
      role: Role.Admin,
      scopes: [Scope.ProductsRead, Scope.ProductsWrite, Scope.ImagesRead],
    });
    c.adminKeyNoWrite = { apiKey: key.json<{ key: string }>().key };
    productId = (await call(app, 'POST', '/api/v1/products', c.admin, { name: 'Target' })).json<{
      id: string;
    }>().id;
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.getHttpServer().address() as { port: number }).port;
  });
  afterAll(() => t.close());

  const families: Family[] = [
    {
      name: 'POST /products',
      method: 'POST',
      path: () => '/api/v1/products',
      kind: 'json',
      refused: { who: 'user', code: 'insufficient_role' },
    },
    {
      name: 'PATCH /products/:id',
      method: 'PATCH',
      path: () => `/api/v1/products/${productId}`,
      kind: 'json',
      refused: { who: 'user', code: 'insufficient_role' },
    },
    {
      name: 'PUT /products/:id/image (data URI)',
      method: 'PUT',
      path: () => `/api/v1/products/${productId}/image`,
      kind: 'data-uri',
      refused: { who: 'adminKeyNoWrite', code: 'insufficient_scope' },
    },
    {
      name: 'PUT /products/by-gtin/:gtin/image (data URI)',
      method: 'PUT',
      path: () => '/api/v1/products/by-gtin/4006381333931/image',
      kind: 'data-uri',
      refused: { who: 'user', code: 'insufficient_role' },
    },
    {
      name: 'POST /products/:id/images (multipart)',
      method: 'POST',
      path: () => `/api/v1/products/${productId}/images`,
      kind: 'multipart',
      refused: { who: 'adminKeyNoWrite', code: 'insufficient_scope' },
    },
    {
      name: 'POST /images (multipart)',
      method: 'POST',
      path: () => '/api/v1/images',
      kind: 'multipart',
      refused: { who: 'user', code: 'insufficient_role' },
    },
    {
      name: 'POST /users',
      method: 'POST',
      path: () => '/api/v1/users',
      kind: 'json',
      refused: { who: 'user', code: 'insufficient_role' },
    },
    {
      name: 'POST /api-keys',
      method: 'POST',
      path: () => '/api/v1/api-keys',
      kind: 'json',
      refused: { who: 'adminKeyNoWrite', code: 'insufficient_scope' },
    },
  ];

  const badCredentials: Record<string, { headers: () => Record<string, string>; code: string }> = {
    'no credential': { headers: () => ({}), code: 'authentication_required' },
    'a garbage bearer token': {
      headers: () => ({ authorization: 'Bearer not.a.jwt' }),
      code: 'invalid_token',
    },
    'an unknown API key': {
      headers: () => ({ 'x-api-key': `pis_ABCDEFGH_${'x'.repeat(43)}` }),
      code: 'invalid_api_key',
    },
    'an unknown key as Authorization: Token': {
      headers: () => ({ authorization: `Token pis_ABCDEFGH_${'y'.repeat(43)}` }),
      code: 'invalid_api_key',
    },
    'an unknown Authorization scheme': {
      headers: () => ({ authorization: 'Basic YWRtaW46YWRtaW4=' }),
      code: 'authentication_required',
    },
  };

  describe.each(families)('$name', (family) => {
    it.each(Object.keys(badCredentials))(
      'answers 401 to %s while a 19 MB body is unsent',
      async (kind) => {
        const body = bodyOf(family.kind);
        const answer = await sendWithLargeBody({
          port,
          method: family.method,
          path: family.path(),
          headers: { ...body.headers, ...badCredentials[kind].headers() },
          contentLength: LARGE,
          prefix: body.prefix,
          rest: 'hold',
        });
        expectRefusedBeforeBody(answer, 401, badCredentials[kind].code);
      },
    );

    it('answers 401 to an unknown key in the query string while the body is unsent', async () => {
      const body = bodyOf(family.kind);
      const answer = await sendWithLargeBody({
        port,
        method: family.method,
        path: `${family.path()}?x-api-key=pis_ABCDEFGH_${'z'.repeat(43)}`,
        headers: body.headers,
        contentLength: LARGE,
        prefix: body.prefix,
        rest: 'hold',
      });
      expectRefusedBeforeBody(answer, 401, 'invalid_api_key');
    });

    it('answers 403 to a valid caller without the role or scope while the body is unsent', async () => {
      const body = bodyOf(family.kind);
      const answer = await sendWithLargeBody({
        port,
        method: family.method,
        path: family.path(),
        headers: { ...body.headers, ...authHeaders(c[family.refused.who]) },
        contentLength: LARGE,
        prefix: body.prefix,
        rest: 'hold',
      });
      expectRefusedBeforeBody(answer, 403, family.refused.code);
    });
  });

  it('refuses every protected operation of the API before its body', async () => {
    const document = JSON.parse(readFileSync(join(ROOT, 'openapi.json'), 'utf8')) as {
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    };
    const operations = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, op]) => op.security === undefined || op.security.length > 0)
        .map(([method]) => ({ method: method.toUpperCase(), path })),
    );
    expect(operations.length).toBeGreaterThan(20);
    for (const operation of operations) {
      const path = operation.path.replace(/\{[^}]+\}/g, SOME_UUID);
      const answer = await sendWithLargeBody({
        port,
        method: operation.method,
        path,
        headers: { 'content-type': 'application/json' },
        contentLength: LARGE,
        prefix: '{"',
        rest: 'hold',
      }).catch((error: Error) => {
        throw new Error(`${operation.method} ${operation.path}: ${error.message}`);
      });
      expect({ operation, status: answer.status }).toEqual({ operation, status: 401 });
      expectRefusedBeforeBody(answer, 401, 'authentication_required');
    }
  });

  it.each([
    ['an unknown route', '/api/v1/nowhere', 404],
    ['the public login', '/api/v1/auth/login', 415],
  ])('closes without reading a body that %s does not read', async (_what, path, status) => {
    const answer = await sendWithLargeBody({
      port,
      method: 'POST',
      path,
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      contentLength: LARGE,
      prefix: MULTIPART_PREFIX,
      rest: 'hold',
    });
    expect(answer.status).toBe(status);
    expect(answer.headers.connection).toBe('close');
    expect(answer.closedByServer).toBe(true);
  });

  it('still reads the body of an authorised caller', async () => {
    const res = await call(app, 'POST', '/api/v1/products', c.admin, { name: 'After the check' });
    expect(res.statusCode).toBe(201);
    const refused = await call(app, 'POST', '/api/v1/products', c.admin, '{"name":', {
      headers: { 'content-type': 'application/json' },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().code).toBe('malformed_json');
  });

  describe('Bearer tokens', () => {
    const sign = (claims: object, options: jwt.SignOptions): string =>
      jwt.sign(claims, JWT_SECRET, { issuer: ISSUER, audience: ISSUER, ...options });

    it('answers 401 invalid_token to a correctly signed token whose subject is not a UUID', async () => {
      for (const sub of ['not-a-uuid', "1' OR '1'='1", '']) {
        const token = sign({ sub, org: adminClaims.org }, { expiresIn: 600 });
        const res = await call(app, 'GET', '/api/v1/auth/me', { bearer: token });
        expect({ sub, status: res.statusCode, code: res.json().code }).toEqual({
          sub,
          status: 401,
          code: 'invalid_token',
        });
        expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
      }
    });

    it('refuses a correctly signed token without an expiry', async () => {
      const token = sign({ sub: adminClaims.sub, org: adminClaims.org }, {});
      expect((jwt.decode(token) as { exp?: number }).exp).toBeUndefined();
      const res = await call(app, 'GET', '/api/v1/auth/me', { bearer: token });
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('invalid_token');
      // The same claims with an expiry are fine: only the missing exp was refused.
      const good = sign({ sub: adminClaims.sub, org: adminClaims.org }, { expiresIn: 600 });
      expect((await call(app, 'GET', '/api/v1/auth/me', { bearer: good })).statusCode).toBe(200);
    });

    it('refuses such tokens before the body, too', async () => {
      const token = sign({ sub: 'not-a-uuid', org: adminClaims.org }, { expiresIn: 600 });
      const answer = await sendWithLargeBody({
        port,
        method: 'PUT',
        path: `/api/v1/products/${productId}/image`,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        contentLength: LARGE,
        prefix: DATA_URI_PREFIX,
        rest: 'hold',
      });
      expectRefusedBeforeBody(answer, 401, 'invalid_token');
    });
  });
});

/** Bytes a process has read through read(2) and recv(2), sockets included, from /proc/<pid>/io. */
function bytesReadBy(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const rchar = /^rchar:\s+(\d+)$/m.exec(io);
  if (!rchar) throw new Error(`no rchar for ${pid}`);
  return Number(rchar[1]);
}

describe('Thirty unauthenticated 19 MB bodies against the service process', () => {
  const CONNECTIONS = 30;

  it('keep its memory within 100 MB of idle, each answered 401 before its body', async () => {
    const db = await createTestDatabase();
    const port = await freePort();
    const service = startService(
      { ...db.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
      db.env.DATA_DIR,
    );
    const pid = service.child.pid!;
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitForStatus(`${base}/health/ready`, 200);
      // Warm-up: the routes, the parsers and the error path have all run once.
      for (let i = 0; i < 5; i++) {
        await fetch(`${base}/api/v1/products`);
        await fetch(`${base}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'nobody', password: 'wrong' }),
        });
      }
      await new Promise((r) => setTimeout(r, 1000));
      const idle = Math.max(anonymousMemory(pid), anonymousMemory(pid));
      const readBefore = bytesReadBy(pid);

      let peak = idle;
      const sampler = setInterval(() => (peak = Math.max(peak, anonymousMemory(pid))), 20);
      let answers: EarlyAnswer[];
      try {
        answers = await Promise.all(
          Array.from({ length: CONNECTIONS }, () =>
            sendWithLargeBody({
              port,
              method: 'PUT',
              path: `/api/v1/products/${SOME_UUID}/image`,
              headers: { 'content-type': 'application/json' },
              contentLength: LARGE,
              prefix: DATA_URI_PREFIX,
              rest: 'flood',
              suffix: '"}',
              timeoutMs: 90_000,
            }),
          ),
        );
        // Whatever the server still held is measured too, not only the moment of the answers.
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, anonymousMemory(pid));
      const readMb = (bytesReadBy(pid) - readBefore) / MB;
      const growthMb = (peak - idle) / MB;
      recordMeasurement(
        `pre-body auth memory: idle ${(idle / MB).toFixed(0)} MB, peak ${(peak / MB).toFixed(0)} MB, ` +
          `growth ${growthMb.toFixed(0)} MB; read by the service ${readMb.toFixed(1)} MB; ` +
          `body bytes sent before each answer: ` +
          `max ${(Math.max(...answers.map((a) => a.bodyBytesSent)) / MB).toFixed(1)} MB`,
      );
      for (const answer of answers) {
        expect(answer.status).toBe(401);
        expect(JSON.parse(answer.body).code).toBe('authentication_required');
        expect(answer.headers.connection).toBe('close');
        expect(answer.closedByServer).toBe(true);
        // The answer came while the body was still being sent: it was never read whole.
        expect(answer.bodyBytesSent).toBeLessThan(LARGE);
      }
      expect(growthMb).toBeLessThan(100);
      // Less than JSON_BODY_LIMIT_BYTES (1 MiB) per connection crossed into the process at all.
      expect(readMb).toBeLessThan(CONNECTIONS);
    } finally {
      service.child.kill('SIGTERM');
      await service.exit;
      await db.drop();
    }
  }, 180_000);
});
