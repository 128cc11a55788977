import { createPublicKey, generateKeyPairSync, type JsonWebKeyInput } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { AdminBootstrapService } from '../../src/auth/admin-bootstrap.service';
import { keyId } from '../../src/auth/jwt-keys';
import { call, login } from '../support/http';
import { createTestDatabase } from '../support/test-database';
import { startTestApp, TEST_ADMIN } from '../support/test-app';
import { forgeHs256, unsignedToken } from '../support/tokens';
import { printedDuring } from '../support/stdout';

const SILENT = { NODE_ENV: 'test', LOG_LEVEL: 'silent' };

describe('JWT with RS256', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pis-keys-'));
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  writeFileSync(join(dir, 'private.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'public.pem'), publicPem);
  // The pair in use before this one (a rotation): its public key still verifies its tokens.
  const previous = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const previousPem = previous.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  writeFileSync(join(dir, 'previous.pem'), previousPem);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('signs with the private key, and refuses HS256 keyed with the public key and alg:none', async () => {
    const t = await startTestApp({
      JWT_ALGORITHM: 'RS256',
      JWT_PRIVATE_KEY_FILE: join(dir, 'private.pem'),
      JWT_PUBLIC_KEY_FILE: join(dir, 'public.pem'),
      JWT_PREVIOUS_PUBLIC_KEY_FILE: join(dir, 'previous.pem'),
    });
    try {
      const token = await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
      const decoded = jwt.decode(token, { complete: true }) as unknown as {
        header: { alg: string };
        payload: { sub: string; org: string; iss: string; aud: string; exp: number };
      };
      expect(decoded.header.alg).toBe('RS256');
      expect((await call(t.app, 'GET', '/api/v1/auth/me', { bearer: token })).statusCode).toBe(200);

      // The classic algorithm-confusion attack: HMAC keyed with the (public) verification key.
      const confused = forgeHs256(decoded.payload, publicPem);
      const res = await call(t.app, 'GET', '/api/v1/auth/me', { bearer: confused });
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('invalid_token');
      const none = unsignedToken(decoded.payload);
      expect((await call(t.app, 'GET', '/api/v1/auth/me', { bearer: none })).statusCode).toBe(401);

      // Rotation: a token of the previous pair, under its key id, still verifies; HMAC keyed
      // with the previous public key under that id does not.
      const kid = keyId(previous.publicKey);
      const {
        iat: _iat,
        exp: _exp,
        ...claims
      } = decoded.payload as typeof decoded.payload & {
        iat: number;
      };
      const old = jwt.sign(claims, previous.privateKey, {
        algorithm: 'RS256',
        keyid: kid,
        expiresIn: 600,
      });
      const me = async (bearer: string) =>
        (await call(t.app, 'GET', '/api/v1/auth/me', { bearer })).statusCode;
      expect(await me(old)).toBe(200);
      // Without kid (an instance before key ids, an issuer that writes none): still the previous
      // pair's token, as during the rotation it is; HMAC keyed with its public key is not.
      const unnamed = jwt.sign(claims, previous.privateKey, { algorithm: 'RS256', expiresIn: 600 });
      expect(await me(unnamed)).toBe(200);
      expect(await me(forgeHs256(decoded.payload, previousPem))).toBe(401);
      expect(await me(forgeHs256(decoded.payload, previousPem, { kid }))).toBe(401);

      // Another service verifies our tokens with the published keys alone (RFC 7517), without
      // a credential: the current key and the previous one, each under its token's `kid`.
      const res2 = await call(t.app, 'GET', '/.well-known/jwks.json');
      expect(res2.statusCode).toBe(200);
      expect(res2.headers['content-type']).toMatch(/^application\/json/);
      expect(res2.headers['cache-control']).toBe('public, max-age=300');
      const { keys } = res2.json<{ keys: (JsonWebKeyInput['key'] & { kid: string })[] }>();
      expect(keys.map((k) => k.kid)).toEqual([keyId(publicKey), kid]);
      for (const k of keys) {
        expect(Object.keys(k).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
        expect(k).toMatchObject({ kty: 'RSA', use: 'sig', alg: 'RS256' });
      }
      // Revalidated once its 5 minutes are up, as any cacheable read is: 304 with no body while
      // the keys are the ones If-None-Match names (weakly, in a list), the keys again otherwise.
      const etag = String(res2.headers.etag);
      expect(etag).toMatch(/^W\/"[A-Za-z0-9_-]{22}"$/);
      const revalidate = (ifNoneMatch: string) =>
        t.app.inject({
          method: 'GET',
          url: '/.well-known/jwks.json',
          headers: { 'if-none-match': ifNoneMatch },
        });
      for (const ifNoneMatch of [etag, `"other", ${etag.slice(2)}`]) {
        const current = await revalidate(ifNoneMatch);
        expect({ status: current.statusCode, body: current.body }).toEqual({
          status: 304,
          body: '',
        });
        expect(current.headers).toMatchObject({
          etag,
          'cache-control': 'public, max-age=300',
          'access-control-allow-origin': '*',
        });
      }
      const changed = await revalidate('W/"AAAAAAAAAAAAAAAAAAAAAA"');
      expect(changed.statusCode).toBe(200);
      expect(changed.headers.etag).toBe(etag);
      expect(changed.json()).toEqual(res2.json());
      const verifyWithJwks = (token: string) => {
        const { header } = jwt.decode(token, { complete: true })!;
        const jwk = keys.find((k) => k.kid === header.kid)!;
        return jwt.verify(token, createPublicKey({ key: jwk, format: 'jwk' }), {
          algorithms: ['RS256'],
          issuer: decoded.payload.iss,
          audience: decoded.payload.aud,
        });
      };
      expect(verifyWithJwks(token)).toMatchObject({ sub: decoded.payload.sub });
      expect(verifyWithJwks(old)).toMatchObject({ sub: decoded.payload.sub });
      // Public, without a credential: a page of any origin may read it (a browser's verifier),
      // with CORS_ORIGINS unset as here, which closes the API itself to other origins.
      const fromPage = await t.app.inject({
        method: 'GET',
        url: '/.well-known/jwks.json',
        headers: { origin: 'https://verifier.example' },
      });
      expect(fromPage.statusCode).toBe(200);
      expect(fromPage.headers['access-control-allow-origin']).toBe('*');
      expect(fromPage.headers['access-control-allow-credentials']).toBeUndefined();
      // A credential sent along, good or bad, changes nothing: the keys stay public and cacheable
      // (not the no-store of answers to requests with a credential), and are never refused.
      for (const headers of [
        { authorization: `Bearer ${token}` },
        { authorization: 'Bearer not-a-token' },
        { 'x-api-key': 'pis_unknown' },
      ]) {
        const res3 = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json', headers });
        expect(res3.statusCode).toBe(200);
        expect(res3.headers['cache-control']).toBe('public, max-age=300');
        expect(res3.json()).toEqual(res2.json());
      }
    } finally {
      await t.close();
    }
  });
});

describe('Login throttling', () => {
  it('limits attempts per address and per account, with 429 and Retry-After', async () => {
    const t = await startTestApp({ LOGIN_RATE_LIMIT: '3', LOGIN_RATE_WINDOW_SECONDS: '60' });
    try {
      const attempt = (email: string, remoteAddress: string) =>
        call(
          t.app,
          'POST',
          '/api/v1/auth/login',
          undefined,
          { email, password: 'wrong password' },
          {
            remoteAddress,
          },
        );
      // Per address: different accounts from one address.
      for (let i = 0; i < 3; i++) {
        expect((await attempt(`a${i}@test.example`, '203.0.113.1')).statusCode).toBe(401);
      }
      const limited = await attempt('a9@test.example', '203.0.113.1');
      expect(limited.statusCode).toBe(429);
      expect(limited.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(limited.json().code).toBe('login_rate_limited');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);

      // Per account: one account from different addresses.
      for (let i = 0; i < 3; i++) {
        expect((await attempt('victim@test.example', `198.51.100.${i}`)).statusCode).toBe(401);
      }
      const accountLimited = await attempt('VICTIM@test.example', '198.51.100.99');
      expect(accountLimited.statusCode).toBe(429);

      // Another address and account is unaffected.
      expect((await attempt('fresh@test.example', '192.0.2.7')).statusCode).toBe(401);
    } finally {
      await t.close();
    }
  });

  it("counts an IPv6 client by its /64, where a new address each day is its owner's", async () => {
    const t = await startTestApp({ LOGIN_RATE_LIMIT: '3', LOGIN_RATE_WINDOW_SECONDS: '60' });
    try {
      const attempt = (email: string, password: string, remoteAddress: string) =>
        call(
          t.app,
          'POST',
          '/api/v1/auth/login',
          undefined,
          { email, password },
          { remoteAddress },
        );
      // The owner logs in from one address of their /64...
      const owner = TEST_ADMIN.email;
      expect((await attempt(owner, TEST_ADMIN.password, '2001:db8:1:2::10')).statusCode).toBe(200);
      // ...a guesser walks the addresses of another /64: limited as one address.
      const statuses = [];
      for (let i = 1; i <= 4; i++) {
        statuses.push(
          (await attempt(`x${i}@test.example`, 'wrong', `2001:db8:9:9::${i}`)).statusCode,
        );
      }
      expect(statuses).toEqual([401, 401, 401, 429]);
      // Another /64 is another client.
      expect((await attempt('y@test.example', 'wrong', '2001:db8:9:a::1')).statusCode).toBe(401);
      // The owner's account, failed from everywhere else, still lets them in from a new address
      // of their own /64 (the known-address budget counts their network).
      for (let i = 0; i < 4; i++) await attempt(owner, 'wrong', `2001:db8:7:${i}::1`);
      expect((await attempt(owner, 'wrong', '2001:db8:8::1')).statusCode).toBe(429);
      expect((await attempt(owner, TEST_ADMIN.password, '2001:db8:1:2::beef')).statusCode).toBe(
        200,
      );
    } finally {
      await t.close();
    }
  });

  it('counts the client a trusted proxy names (TRUST_PROXY=<its address>), not one the client wrote', async () => {
    // A proxy at 10.0.0.1 that appends the client's address to X-Forwarded-For (nginx's
    // $proxy_add_x_forwarded_for, AWS ALB): the client writes the entries before it.
    const proxy = '10.0.0.1';
    const t = await startTestApp({ LOGIN_RATE_LIMIT: '3', TRUST_PROXY: proxy });
    try {
      const attempt = (i: number, forwardedFor: string, remoteAddress = proxy) =>
        t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { email: `someone${i}@test.example`, password: 'wrong password' },
          headers: { 'x-forwarded-for': forwardedFor },
          remoteAddress,
        });
      const statuses = [];
      for (let i = 0; i < 5; i++) {
        statuses.push((await attempt(i, `198.51.100.${i}, 203.0.113.7`)).statusCode);
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
      // Another client through the same proxy is its own address.
      expect((await attempt(9, '198.51.100.1, 203.0.113.8')).statusCode).toBe(401);
      // A client reaching the service directly is not believed about its address.
      const direct = [];
      for (let i = 0; i < 4; i++) {
        direct.push((await attempt(10 + i, `203.0.113.${20 + i}`, '192.0.2.44')).statusCode);
      }
      expect(direct).toEqual([401, 401, 401, 429]);
    } finally {
      await t.close();
    }
  });
});

describe('API key in the query string', () => {
  it('is accepted when API_KEY_QUERY_PARAM=true', async () => {
    const t = await startTestApp({ API_KEY_QUERY_PARAM: 'true' });
    try {
      const admin = await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
      const { key } = (
        await call(t.app, 'POST', '/api/v1/api-keys', { bearer: admin }, { name: 'q' })
      ).json();
      const res = await call(t.app, 'GET', `/api/v1/auth/me?x-api-key=${encodeURIComponent(key)}`);
      expect(res.statusCode).toBe(200);
      expect(res.json().type).toBe('api_key');
      // However its name is percent-encoded, a query key authenticates, and so its answer is one
      // no cache may keep (for the next organisation, or after the key is revoked).
      for (const name of ['x-api-key', 'x%2Dapi-key', 'x-api%2dkey', '%78-api-key']) {
        const answer = await call(t.app, 'GET', `/api/v1/auth/me?${name}=${key}`);
        expect({ name, status: answer.statusCode, cache: answer.headers['cache-control'] }).toEqual(
          { name, status: 200, cache: 'no-store' },
        );
      }
      // Lists too: the key is the credential, not one of the list's parameters (whose rules
      // refuse unknown ones: "property x-api-key should not exist").
      const q = `x-api-key=${encodeURIComponent(key)}`;
      for (const path of ['/api/v1/products?', '/api/v1/images?purpose=product&']) {
        const answer = await call(t.app, 'GET', `${path}${q}`);
        expect({ path, status: answer.statusCode }).toEqual({ path, status: 200 });
      }
      // Named twice: the same key is that key; two keys are two credentials, said as such (it
      // was "needs a credential", as if none had come).
      expect((await call(t.app, 'GET', `/api/v1/auth/me?${q}&${q}`)).statusCode).toBe(200);
      const two = await call(t.app, 'GET', `/api/v1/auth/me?${q}&x-api-key=other`);
      expect({ status: two.statusCode, detail: two.json().detail }).toEqual({
        status: 401,
        detail: expect.stringContaining('Send exactly one credential') as string,
      });
    } finally {
      await t.close();
    }
  });
});

describe('First start', () => {
  it('creates one admin with a generated password, printed once and never again', async () => {
    const db = await createTestDatabase();
    try {
      // Without ADMIN_PASSWORD the administrator is created once listening (main.ts calls this).
      const first = await createApp({ env: { ...SILENT, ...db.env } });
      const output = await printedDuring(async () => {
        await first.get(AdminBootstrapService).ensureFirstAdministrator();
        await first.close();
      });
      const password = /password: (\S+)/.exec(output)?.[1];
      expect(password).toBeDefined();
      expect(output).toContain('admin@example.com');

      const second = await createApp({ env: { ...SILENT, ...db.env } });
      try {
        const again = await printedDuring(() =>
          second.get(AdminBootstrapService).ensureFirstAdministrator(),
        );
        expect(again).not.toContain('password');
        // The printed password works; the dev JWT secret was generated once and kept (0600).
        await expect(login(second, { username: 'admin' }, password!)).resolves.toBeTruthy();
        expect(statSync(join(db.env.DATA_DIR, 'jwt-secret')).mode & 0o777).toBe(0o600);
        const [{ n }] = await second.get(DataSource).query('SELECT count(*)::int AS n FROM users');
        expect(n).toBe(1);
      } finally {
        await second.close();
      }
    } finally {
      await db.drop();
    }
  });

  it('keeps sessions across restarts in development (secret kept in DATA_DIR)', async () => {
    const db = await createTestDatabase();
    const env = {
      ...SILENT,
      ...db.env,
      ADMIN_EMAIL: TEST_ADMIN.email,
      ADMIN_PASSWORD: TEST_ADMIN.password,
    };
    try {
      const first = await createApp({ env });
      const token = await login(first, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
      await first.close();
      const second = await createApp({ env });
      try {
        expect((await call(second, 'GET', '/api/v1/auth/me', { bearer: token })).statusCode).toBe(
          200,
        );
      } finally {
        await second.close();
      }
    } finally {
      await db.drop();
    }
  });

  if (process.env.TEST_DATABASE_URL) {
    it('creates exactly one admin when several instances start at once (server)', async () => {
      const db = await createTestDatabase('postgres');
      const env = {
        ...SILENT,
        ...db.env,
        ADMIN_EMAIL: TEST_ADMIN.email,
        ADMIN_PASSWORD: TEST_ADMIN.password,
      };
      try {
        // Every start settles before any failure is thrown, so none is left open.
        const started = await Promise.allSettled([1, 2, 3].map(() => createApp({ env })));
        const apps = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
        try {
          for (const r of started) if (r.status === 'rejected') throw r.reason;
          const [{ n }] = await apps[0]
            .get(DataSource)
            .query<{ n: number }[]>('SELECT count(*)::int AS n FROM users');
          expect(n).toBe(1);
        } finally {
          await Promise.all(apps.map((a) => a.close()));
        }
      } finally {
        await db.drop();
      }
    });
  }
});
