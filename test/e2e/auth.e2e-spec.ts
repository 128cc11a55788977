import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createSecretKey } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { DataSource } from 'typeorm';
import { keyId } from '../../src/auth/jwt-keys';
import { Role, Scope } from '../../src/auth/roles';
import { decodeId } from '../../src/common/ids/short-id';
import { otherOrganisationAdmin, TEST_PASSWORD } from '../support/accounts';
import { call, login, type Credential } from '../support/http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { unsignedToken } from '../support/tokens';

const JWT_SECRET = 'a-test-secret-that-is-at-least-32-characters-long';
/** The secret JWT_SECRET replaced (a rotation): its tokens still verify until they expire. */
const JWT_PREVIOUS_SECRET = 'the-secret-in-use-before-the-current-one-was-set';
const ISSUER = 'product-image-service';
const PASSWORD = TEST_PASSWORD;

/** The secret part of `pis_<8-char prefix>_<secret>` (the secret may itself contain "_"). */
function secretOf(key: string): string {
  return key.slice('pis_'.length + 8 + 1);
}

describe('Authentication and authorisation', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  const c: Record<string, Credential> = {};
  const ids: Record<string, string> = {};
  let adminClaims: { sub: string; org: string };

  async function createUser(role: Role, name: string, token = c.admin): Promise<string> {
    const res = await call(app, 'POST', '/api/v1/users', token, {
      email: `${name}@test.example`,
      username: name,
      full_name: `${name} Example`,
      password: PASSWORD,
      role,
    });
    expect(res.statusCode).toBe(201);
    const { id } = res.json<{ id: string }>();
    // Where the new user is read, as RFC 9110 asks of a 201.
    expect(res.headers.location).toBe(`/api/v1/users/${id}`);
    return id;
  }

  async function createKey(body: object, token = c.admin): Promise<{ id: string; key: string }> {
    const res = await call(app, 'POST', '/api/v1/api-keys', token, body);
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe(`/api/v1/api-keys/${res.json<{ id: string }>().id}`);
    return res.json();
  }

  beforeAll(async () => {
    t = await startTestApp({ JWT_SECRET, JWT_PREVIOUS_SECRET, LOGIN_RATE_LIMIT: '1000' });
    app = t.app;
    c.admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const decoded = jwt.decode(c.admin.bearer) as typeof adminClaims;
    adminClaims = { sub: decoded.sub, org: decoded.org };

    ids.staff = await createUser(Role.Staff, 'stella');
    ids.user = await createUser(Role.User, 'ursula');
    c.staff = { bearer: await login(app, { username: 'stella' }, PASSWORD) };
    c.user = { bearer: await login(app, { email: 'ursula@test.example' }, PASSWORD) };

    c.adminKey = { apiKey: (await createKey({ name: 'admin key', role: Role.Admin })).key };
    c.adminKeyAsToken = { token: c.adminKey.apiKey };
    c.staffKey = { apiKey: (await createKey({ name: 'staff key', role: Role.Staff })).key };
    c.userKey = { apiKey: (await createKey({ name: 'user key', role: Role.User })).key };
    // Admin role, but without the management scopes.
    c.adminKeyNoManage = {
      apiKey: (
        await createKey({
          name: 'admin, no manage',
          role: Role.Admin,
          scopes: [Scope.ProductsRead, Scope.ImagesRead, Scope.ImagesWrite],
        })
      ).key,
    };
    const revoked = await createKey({ name: 'revoked' });
    expect((await call(app, 'DELETE', `/api/v1/api-keys/${revoked.id}`, c.admin)).statusCode).toBe(
      204,
    );
    c.revokedKey = { apiKey: revoked.key };
    const expired = await createKey({ name: 'expired', expires_at: new Date(Date.now() + 60_000) });
    await app
      .get(DataSource)
      .query(`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, [
        decodeId(expired.id),
      ]);
    c.expiredKey = { apiKey: expired.key };

    // Another organisation, with its own admin.
    c.otherAdmin = await otherOrganisationAdmin(app, 'other', 'olga');
    ids.otherKey = (await createKey({ name: 'other org key' }, c.otherAdmin)).id;
  });
  afterAll(() => t.close());

  const now = (): number => Math.floor(Date.now() / 1000);
  /** Waits for a second to begin, so that what follows at once happens within one second. */
  const startOfSecond = () =>
    new Promise((resolve) => setTimeout(resolve, 1005 - (Date.now() % 1000)));
  const badCredentials: Record<string, () => Credential> = {
    'an expired token': () => ({
      // Expired for longer than JWT_CLOCK_TOLERANCE_SECONDS allows for clock skew.
      bearer: jwt.sign({ ...adminClaims, exp: now() - 3600 }, JWT_SECRET, {
        issuer: ISSUER,
        audience: ISSUER,
        algorithm: 'HS256',
      }),
    }),
    'a token signed with another secret': () => ({
      bearer: jwt.sign(adminClaims, 'another-secret-another-secret-another-secret', {
        issuer: ISSUER,
        audience: ISSUER,
        expiresIn: 600,
      }),
    }),
    'an alg:none token': () => ({
      bearer: unsignedToken({ ...adminClaims, iss: ISSUER, aud: ISSUER, exp: now() + 600 }),
    }),
    'a token for another audience': () => ({
      bearer: jwt.sign(adminClaims, JWT_SECRET, {
        issuer: ISSUER,
        audience: 'else',
        expiresIn: 600,
      }),
    }),
    'a token from another issuer': () => ({
      bearer: jwt.sign(adminClaims, JWT_SECRET, {
        issuer: 'else',
        audience: ISSUER,
        expiresIn: 600,
      }),
    }),
    'a token with a critical header extension': () => ({
      // RFC 7515 §4.1.11: a `crit` naming an extension the service does not understand is refused.
      bearer: jwt.sign(adminClaims, JWT_SECRET, {
        issuer: ISSUER,
        audience: ISSUER,
        expiresIn: 600,
        header: { alg: 'HS256', crit: ['exp'] },
      }),
    }),
    'a token issued longer ago than JWT_TTL_SECONDS, whatever its expiry': () => ({
      bearer: jwt.sign(
        { ...adminClaims, iat: now() - 2 * 3600, exp: now() + 100 * 365 * 86400 },
        JWT_SECRET,
        { issuer: ISSUER, audience: ISSUER, algorithm: 'HS256' },
      ),
    }),
    'a token issued an hour from now, past the clock tolerance': () => ({
      bearer: jwt.sign({ ...adminClaims, iat: now() + 3600, exp: now() + 7200 }, JWT_SECRET, {
        issuer: ISSUER,
        audience: ISSUER,
        algorithm: 'HS256',
      }),
    }),
    'a token whose iat and exp are in milliseconds (a signer’s slip: good for 50,000 years)':
      () => ({
        bearer: jwt.sign(
          { ...adminClaims, iat: Date.now(), exp: Date.now() + 3600 * 1000 },
          JWT_SECRET,
          { issuer: ISSUER, audience: ISSUER, algorithm: 'HS256' },
        ),
      }),
    'a garbage bearer token': () => ({ bearer: 'not.a.jwt' }),
    'a revoked API key': () => c.revokedKey,
    'an expired API key': () => c.expiredKey,
    'an unknown API key': () => ({ apiKey: `pis_ABCDEFGH_${'x'.repeat(43)}` }),
    'a malformed API key': () => ({ apiKey: 'hunter2' }),
    'an unknown Authorization scheme': () => ({ header: 'Basic YWRtaW46YWRtaW4=' }),
  };

  interface RouteCase {
    name: string;
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
    url: () => string | Promise<string>;
    body?: () => object;
    /** Callers that may use it; everyone else valid gets 403. */
    allowed: string[];
    ok: number;
    /** A path with an id of this organisation: another organisation's admin gets 404. */
    tenantScoped?: boolean;
  }

  let counter = 0;
  const fresh = (): string => `u${Date.now().toString(36)}${counter++}`;
  const ALL = [
    'admin',
    'staff',
    'user',
    'adminKey',
    'adminKeyAsToken',
    'staffKey',
    'userKey',
    'adminKeyNoManage',
  ];
  const ADMINS_WITH_MANAGE = ['admin', 'adminKey', 'adminKeyAsToken'];

  const routes: RouteCase[] = [
    { name: 'GET /auth/me', method: 'GET', url: () => '/api/v1/auth/me', allowed: ALL, ok: 200 },
    {
      name: 'POST /users',
      method: 'POST',
      url: () => '/api/v1/users',
      body: () => ({
        email: `${fresh()}@t.example`,
        username: fresh(),
        password: PASSWORD,
        role: 'user',
      }),
      allowed: ADMINS_WITH_MANAGE,
      ok: 201,
    },
    {
      name: 'GET /users',
      method: 'GET',
      url: () => '/api/v1/users',
      allowed: ADMINS_WITH_MANAGE,
      ok: 200,
    },
    {
      name: 'GET /users/:id',
      method: 'GET',
      url: () => `/api/v1/users/${ids.staff}`,
      allowed: ADMINS_WITH_MANAGE,
      ok: 200,
      tenantScoped: true,
    },
    {
      name: 'PATCH /users/:id',
      method: 'PATCH',
      url: () => `/api/v1/users/${ids.staff}`,
      body: () => ({ full_name: 'Stella Renamed' }),
      allowed: ADMINS_WITH_MANAGE,
      ok: 200,
      tenantScoped: true,
    },
    {
      name: 'DELETE /users/:id',
      method: 'DELETE',
      url: async () => `/api/v1/users/${await createUser(Role.User, fresh())}`,
      allowed: ADMINS_WITH_MANAGE,
      ok: 204,
      tenantScoped: true,
    },
    {
      name: 'POST /api-keys',
      method: 'POST',
      url: () => '/api/v1/api-keys',
      body: () => ({ name: 'k' }),
      allowed: ADMINS_WITH_MANAGE,
      ok: 201,
    },
    {
      name: 'GET /api-keys',
      method: 'GET',
      url: () => '/api/v1/api-keys',
      allowed: ADMINS_WITH_MANAGE,
      ok: 200,
    },
    {
      name: 'GET /api-keys/:id',
      method: 'GET',
      url: async () => `/api/v1/api-keys/${(await createKey({ name: 'read' })).id}`,
      allowed: ADMINS_WITH_MANAGE,
      ok: 200,
      tenantScoped: true,
    },
    {
      name: 'DELETE /api-keys/:id',
      method: 'DELETE',
      url: async () => `/api/v1/api-keys/${(await createKey({ name: 'victim' })).id}`,
      allowed: ADMINS_WITH_MANAGE,
      ok: 204,
      tenantScoped: true,
    },
  ];

  describe.each(routes)('$name', (route) => {
    it('answers 401 with WWW-Authenticate to an anonymous caller', async () => {
      const res = await call(app, route.method, await route.url(), undefined, route.body?.());
      expect(res.statusCode).toBe(401);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.json().code).toBe('authentication_required');
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="product-image-service"/);
    });

    it.each(Object.keys(badCredentials))('answers 401 to %s', async (kind) => {
      const res = await call(
        app,
        route.method,
        await route.url(),
        badCredentials[kind](),
        route.body?.(),
      );
      expect(res.statusCode).toBe(401);
      expect(['invalid_token', 'invalid_api_key', 'authentication_required']).toContain(
        res.json().code,
      );
      expect(res.headers['www-authenticate']).toBeDefined();
    });

    it.each(ALL)('%s: allowed or 403', async (who) => {
      const res = await call(app, route.method, await route.url(), c[who], route.body?.());
      if (route.allowed.includes(who)) {
        expect(res.statusCode).toBe(route.ok);
      } else {
        expect(res.statusCode).toBe(403);
        expect(['insufficient_role', 'insufficient_scope']).toContain(res.json().code);
      }
    });

    if (route.tenantScoped) {
      it("answers 404 to another organisation's admin, exactly as for an unknown id", async () => {
        const res = await call(app, route.method, await route.url(), c.otherAdmin, route.body?.());
        expect(res.statusCode).toBe(404);
        const unknown = (await route.url()).replace(
          /[^/]+$/,
          '00000000-0000-4000-8000-000000000000',
        );
        const res2 = await call(app, route.method, unknown, c.admin, route.body?.());
        expect(res2.statusCode).toBe(404);
        expect(res.json().code).toBe(res2.json().code);
      });
    }
  });

  it("does not let an admin revoke another organisation's key", async () => {
    const res = await call(app, 'DELETE', `/api/v1/api-keys/${ids.otherKey}`, c.admin);
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('api_key_not_found');
  });

  it('lists only the caller’s organisation', async () => {
    const mine = (await call(app, 'GET', '/api/v1/users?per_page=100', c.admin)).json();
    expect(mine.items.map((u: { username: string }) => u.username)).not.toContain('olga');
    const theirs = (await call(app, 'GET', '/api/v1/users', c.otherAdmin)).json();
    expect(theirs.items.map((u: { username: string }) => u.username)).toEqual(['olga']);
    expect(theirs.total).toBe(1);
  });

  it('answers 400 invalid_id for a malformed id', async () => {
    const res = await call(app, 'GET', '/api/v1/users/not-an-id', c.admin);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('invalid_id');
  });

  it('accepts the canonical UUID form of an id as well as the short one', async () => {
    const res = await call(app, 'GET', `/api/v1/users/${decodeId(ids.staff)}`, c.admin);
    expect(res.statusCode).toBe(200);
    expect(res.json().id).toBe(ids.staff);
  });

  describe('GET /auth/me', () => {
    it('describes a user', async () => {
      const res = await call(app, 'GET', '/api/v1/auth/me', c.staff);
      expect(res.json()).toMatchObject({
        type: 'user',
        role: 'staff',
        scopes: expect.arrayContaining(['images:write', 'products:write']),
        organization: { slug: 'default' },
        user: { username: 'stella', email: 'stella@test.example' },
      });
      expect(res.json().scopes).not.toContain('api_keys:manage');
    });

    it('describes an API key, with only its own scopes', async () => {
      const res = await call(app, 'GET', '/api/v1/auth/me', c.adminKeyNoManage);
      expect(res.json()).toMatchObject({
        type: 'api_key',
        role: 'admin',
        scopes: ['products:read', 'images:read', 'images:write'],
        api_key: { name: 'admin, no manage' },
      });
    });
  });

  describe('Signing-key rotation (JWT_PREVIOUS_SECRET)', () => {
    const kidOf = (secret: string) => keyId(createSecretKey(Buffer.from(secret)));
    const signed = (secret: string, kid?: string) => ({
      bearer: jwt.sign(adminClaims, secret, {
        issuer: ISSUER,
        audience: ISSUER,
        expiresIn: 600,
        ...(kid !== undefined && { keyid: kid }),
      }),
    });
    const me = async (credential: Credential) =>
      (await call(app, 'GET', '/api/v1/auth/me', credential)).statusCode;

    it('publishes no key set: a shared secret is never published (404, as an unknown route)', async () => {
      const res = await call(app, 'GET', '/.well-known/jwks.json');
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ code: 'route_not_found' });
      expect(res.body).not.toContain(JWT_SECRET);
    });

    it('names the current key in every token it issues', () => {
      const header = jwt.decode((c.admin as { bearer: string }).bearer, { complete: true })?.header;
      expect(header).toMatchObject({ alg: 'HS256', kid: kidOf(JWT_SECRET) });
    });

    it('still accepts the tokens the previous secret signed, and only under its key id', async () => {
      expect(await me(signed(JWT_PREVIOUS_SECRET, kidOf(JWT_PREVIOUS_SECRET)))).toBe(200);
      expect(await me(signed(JWT_SECRET, kidOf(JWT_SECRET)))).toBe(200);
      // A token without a key id (signed before key ids, or by an issuer that writes none):
      // either secret's, as during a rotation both are in use; never another's.
      expect(await me(signed(JWT_SECRET))).toBe(200);
      expect(await me(signed(JWT_PREVIOUS_SECRET))).toBe(200);
      expect(await me(signed('another-secret-another-secret-another-secret'))).toBe(401);
      expect(await me(signed(JWT_PREVIOUS_SECRET, kidOf(JWT_SECRET)))).toBe(401);
      expect(await me(signed(JWT_SECRET, kidOf(JWT_PREVIOUS_SECRET)))).toBe(401);
      expect(await me(signed(JWT_SECRET, 'unknown'))).toBe(401);
      const another = 'another-secret-another-secret-another-secret';
      expect(await me(signed(another, kidOf(another)))).toBe(401);
    });
  });

  describe('Clock skew between instances (JWT_CLOCK_TOLERANCE_SECONDS, 30 s by default)', () => {
    const at = (claims: { exp: number; nbf?: number; iat?: number }) => ({
      bearer: jwt.sign({ ...adminClaims, iat: now() - 10, ...claims }, JWT_SECRET, {
        issuer: ISSUER,
        audience: ISSUER,
        keyid: keyId(createSecretKey(Buffer.from(JWT_SECRET))),
      }),
    });
    const me = async (credential: Credential) =>
      (await call(app, 'GET', '/api/v1/auth/me', credential)).statusCode;

    it('accepts a token a few seconds past its expiry or before its nbf, as a clock ahead sees it', async () => {
      expect(await me(at({ exp: now() - 5 }))).toBe(200);
      expect(await me(at({ exp: now() + 600, nbf: now() + 5 }))).toBe(200);
      // Issued a few seconds from now, as the signing instance's clock ahead of this one writes it.
      expect(await me(at({ exp: now() + 600, iat: now() + 5 }))).toBe(200);
    });

    it('refuses one expired, or not yet valid, by more than the tolerance', async () => {
      expect(await me(at({ exp: now() - 60 }))).toBe(401);
      expect(await me(at({ exp: now() + 600, nbf: now() + 60 }))).toBe(401);
      expect(await me(at({ exp: now() + 600, iat: now() + 60 }))).toBe(401);
    });
  });

  describe('Login', () => {
    it('gives the same 401 for a wrong password and an unknown account', async () => {
      const wrong = await call(app, 'POST', '/api/v1/auth/login', undefined, {
        email: TEST_ADMIN.email,
        password: 'wrong password',
      });
      const unknown = await call(app, 'POST', '/api/v1/auth/login', undefined, {
        email: 'nobody@test.example',
        password: 'wrong password',
      });
      expect(wrong.statusCode).toBe(401);
      expect(unknown.statusCode).toBe(401);
      const strip = (body: Record<string, unknown>): object => ({ ...body, request_id: undefined });
      expect(strip(wrong.json())).toEqual(strip(unknown.json()));
      expect(wrong.json().code).toBe('invalid_login');
      // A 401 names the schemes to authenticate with (RFC 9110 §15.5.2), as every other 401 does.
      for (const res of [wrong, unknown]) {
        expect(res.headers['www-authenticate']).toBe(
          'Bearer realm="product-image-service", Token realm="product-image-service"',
        );
      }
    });

    it("answers the token as access_token, and as the Ocha API's clients read it (token)", async () => {
      const res = await call(app, 'POST', '/api/v1/auth/login', undefined, {
        email: TEST_ADMIN.email,
        password: TEST_ADMIN.password,
      });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(Object.keys(body).sort()).toEqual([
        'access_token',
        'expires_in',
        'token',
        'token_type',
      ]);
      expect(body.token).toBe(body.access_token);
      // A credential in the answer to a request that carried none: still kept from every cache.
      expect(res.headers['cache-control']).toBe('no-store');
      const me = await call(app, 'GET', '/api/v1/auth/me', { bearer: body.token });
      expect(me.statusCode).toBe(200);
    });

    it('is case-insensitive on email and username', async () => {
      await expect(login(app, { email: 'STELLA@Test.Example' }, PASSWORD)).resolves.toBeTruthy();
      await expect(login(app, { username: 'Stella' }, PASSWORD)).resolves.toBeTruthy();
    });

    it('validates its body', async () => {
      const res = await call(app, 'POST', '/api/v1/auth/login', undefined, { password: 'x' });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('validation_failed');
    });

    it('issues an HS256 token with issuer, audience and expiry', async () => {
      const res = await call(app, 'POST', '/api/v1/auth/login', undefined, {
        username: 'stella',
        password: PASSWORD,
      });
      expect(res.json()).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
      const { header, payload } = jwt.decode(res.json().access_token, { complete: true }) as {
        header: { alg: string };
        payload: { iss: string; aud: string; exp: number; iat: number };
      };
      expect(header.alg).toBe('HS256');
      expect(payload).toMatchObject({ iss: ISSUER, aud: ISSUER });
      expect(payload.exp - payload.iat).toBe(3600);
    });
  });

  describe('Users', () => {
    it('refuses a duplicate email or username with 409', async () => {
      const dupEmail = await call(app, 'POST', '/api/v1/users', c.admin, {
        email: 'STELLA@test.example',
        username: 'someone-new',
        password: PASSWORD,
        role: 'user',
      });
      expect(dupEmail.statusCode).toBe(409);
      expect(dupEmail.json()).toMatchObject({ code: 'email_taken', errors: [{ field: 'email' }] });
      const dupName = await call(app, 'POST', '/api/v1/users', c.admin, {
        email: 'new@test.example',
        username: 'olga',
        password: PASSWORD,
        role: 'user',
      });
      expect(dupName.statusCode).toBe(409);
      expect(dupName.json().code).toBe('username_taken');
    });

    it("answers another organisation's address exactly as one of its own: naming neither", async () => {
      // Login is by email or username alone, across organisations, so both are unique across the
      // service and a taken one must be refused; the refusal says no more than that.
      const taken = async (email: string, username: string) => {
        const res = await call(app, 'POST', '/api/v1/users', c.admin, {
          email,
          username,
          password: PASSWORD,
          role: 'user',
        });
        expect(res.statusCode).toBe(409);
        const { request_id: _id, ...problem } = res.json<Record<string, unknown>>();
        return problem;
      };
      // stella is of this organisation; olga of another.
      expect(await taken('olga@other.example', 'probe-1')).toEqual(
        await taken('stella@test.example', 'probe-2'),
      );
      expect(await taken('probe-3@test.example', 'olga')).toEqual(
        await taken('probe-4@test.example', 'stella'),
      );
    });

    it('takes an address in one spelling: composed, lower-cased, its domain as IDNA maps it', async () => {
      const newUser = (email: string, username: string) =>
        call(app, 'POST', '/api/v1/users', c.admin, {
          email,
          username,
          password: PASSWORD,
          role: 'user',
        });
      // "josé" with the é of one code point (NFC), as the account is made.
      const created = await newUser('Jos\u00e9@Bücher.example', 'jose-nfc');
      expect(created.statusCode).toBe(201);
      expect(created.json().email).toBe('jos\u00e9@bücher.example');
      // The same address as e plus a combining accent (NFD), with a punycode or upper-case domain.
      for (const email of [
        'jose\u0301@bücher.example',
        'jos\u00e9@xn--bcher-kva.example',
        'jos\u00e9@BÜCHER.example',
      ]) {
        const again = await newUser(email, 'jose-again');
        expect({ email, status: again.statusCode, code: again.json().code }).toEqual({
          email,
          status: 409,
          code: 'email_taken',
        });
        // And each spelling logs in to the one account.
        const login = await call(app, 'POST', '/api/v1/auth/login', undefined, {
          email,
          password: PASSWORD,
        });
        expect({ email, status: login.statusCode }).toEqual({ email, status: 200 });
      }
      // Checked as stored: IDNA spells each ㌖ out as a word, 61 characters become 336.
      const lengthened = await newUser(`a@${'\u3316'.repeat(55)}.com`, 'jose-long');
      expect(lengthened.statusCode).toBe(400);
      expect(lengthened.json().errors).toEqual([
        { field: 'email', message: 'email must be shorter than or equal to 320 characters' },
        { field: 'email', message: 'email must be an email' },
      ]);
      // An invisible character would make an account that looks like another.
      const hidden = await newUser('jos\u00e9\u200b@bücher.example', 'jose-hidden');
      expect(hidden.statusCode).toBe(400);
      expect(hidden.json().errors).toEqual([
        {
          field: 'email',
          message:
            'email must not contain invisible characters (a zero-width space, a bidi control…)',
        },
      ]);
    });

    it('never returns a password hash', async () => {
      const res = await call(app, 'GET', '/api/v1/users', c.admin);
      expect(res.body).not.toMatch(/argon2|password/);
    });

    it('refuses null in a user update instead of storing it', async () => {
      const id = await createUser(Role.User, 'nully');
      for (const field of ['full_name', 'password', 'role', 'disabled']) {
        const res = await call(app, 'PATCH', `/api/v1/users/${id}`, c.admin, { [field]: null });
        expect({ field, status: res.statusCode, code: res.json().code }).toEqual({
          field,
          status: 400,
          code: 'validation_failed',
        });
      }
    });

    it('stops a disabled user’s tokens at once, for good: re-enabled, they log in again', async () => {
      const id = await createUser(Role.Staff, 'dora');
      const token: Credential = { bearer: await login(app, { username: 'dora' }, PASSWORD) };
      expect((await call(app, 'GET', '/api/v1/auth/me', token)).statusCode).toBe(200);
      await call(app, 'PATCH', `/api/v1/users/${id}`, c.admin, { disabled: true });
      expect((await call(app, 'GET', '/api/v1/auth/me', token)).statusCode).toBe(401);
      const relogin = await call(app, 'POST', '/api/v1/auth/login', undefined, {
        username: 'dora',
        password: PASSWORD,
      });
      expect(relogin.statusCode).toBe(401);
      expect(relogin.json().code).toBe('invalid_login');
      const enabled = await call(app, 'PATCH', `/api/v1/users/${id}`, c.admin, { disabled: false });
      expect(enabled.statusCode).toBe(200);
      // A token held when the account was disabled (stolen, say) does not come back with it.
      expect((await call(app, 'GET', '/api/v1/auth/me', token)).statusCode).toBe(401);
      const fresh: Credential = { bearer: await login(app, { username: 'dora' }, PASSWORD) };
      expect((await call(app, 'GET', '/api/v1/auth/me', fresh)).statusCode).toBe(200);
      // Enabling an enabled user logs no one out.
      await call(app, 'PATCH', `/api/v1/users/${id}`, c.admin, { disabled: false });
      expect((await call(app, 'GET', '/api/v1/auth/me', fresh)).statusCode).toBe(200);
    });

    it('ends every session of the user who logs out, and no one else’s', async () => {
      await createUser(Role.Staff, 'lou');
      const someoneElse: Credential = { bearer: await login(app, { username: 'dora' }, PASSWORD) };
      // The tokens and the logout in the same second (a token's iat is in whole seconds): the
      // tokens end all the same.
      await startOfSecond();
      const tabs: Credential[] = [];
      for (let i = 0; i < 2; i++) {
        tabs.push({ bearer: await login(app, { username: 'lou' }, PASSWORD) });
      }
      const out = await call(app, 'POST', '/api/v1/auth/logout', tabs[0]);
      expect(out.statusCode).toBe(204);
      for (const tab of tabs) {
        expect((await call(app, 'GET', '/api/v1/auth/me', tab)).statusCode).toBe(401);
      }
      expect((await call(app, 'GET', '/api/v1/auth/me', someoneElse)).statusCode).toBe(200);
      const again: Credential = { bearer: await login(app, { username: 'lou' }, PASSWORD) };
      expect((await call(app, 'GET', '/api/v1/auth/me', again)).statusCode).toBe(200);
      // An API key has no session: nothing happens to it.
      const { key } = await createKey({ name: 'no session' });
      expect((await call(app, 'POST', '/api/v1/auth/logout', { apiKey: key })).statusCode).toBe(
        204,
      );
      expect((await call(app, 'GET', '/api/v1/auth/me', { apiKey: key })).statusCode).toBe(200);
      expect((await call(app, 'POST', '/api/v1/auth/logout')).statusCode).toBe(401);
    });

    it('judges a token issued before session generations by its iat, in whole seconds', async () => {
      const id = await createUser(Role.Staff, 'olden');
      const older = (iat: number) => ({
        bearer: jwt.sign({ sub: decodeId(id), org: adminClaims.org, iat }, JWT_SECRET, {
          issuer: ISSUER,
          audience: ISSUER,
          expiresIn: 600,
          algorithm: 'HS256',
        }),
      });
      expect((await call(app, 'GET', '/api/v1/auth/me', older(now() - 5))).statusCode).toBe(200);
      const changed = await call(app, 'PATCH', `/api/v1/users/${id}`, c.admin, {
        password: 'olden but changed',
      });
      expect(changed.statusCode).toBe(200);
      expect((await call(app, 'GET', '/api/v1/auth/me', older(now() - 5))).statusCode).toBe(401);
      expect((await call(app, 'GET', '/api/v1/auth/me', older(now() + 1))).statusCode).toBe(200);
    });

    it('stops a deleted user’s tokens', async () => {
      const id = await createUser(Role.Staff, 'dave');
      const token: Credential = { bearer: await login(app, { username: 'dave' }, PASSWORD) };
      expect((await call(app, 'DELETE', `/api/v1/users/${id}`, c.admin)).statusCode).toBe(204);
      expect((await call(app, 'GET', '/api/v1/auth/me', token)).statusCode).toBe(401);
      expect((await call(app, 'GET', `/api/v1/users/${id}`, c.admin)).statusCode).toBe(404);
    });

    it('applies a role change to existing tokens at once', async () => {
      const id = await createUser(Role.User, 'rita');
      const token: Credential = { bearer: await login(app, { username: 'rita' }, PASSWORD) };
      expect((await call(app, 'GET', '/api/v1/auth/me', token)).json().role).toBe('user');
      await call(app, 'PATCH', `/api/v1/users/${id}`, c.admin, { role: 'staff' });
      expect((await call(app, 'GET', '/api/v1/auth/me', token)).json().role).toBe('staff');
    });

    it('changes a password', async () => {
      const id = await createUser(Role.User, 'pat');
      await call(app, 'PATCH', `/api/v1/users/${id}`, c.admin, {
        password: 'a brand new password',
      });
      await expect(login(app, { username: 'pat' }, 'a brand new password')).resolves.toBeTruthy();
      await expect(login(app, { username: 'pat' }, PASSWORD)).rejects.toThrow();
    });

    it('ends the sessions of a changed password; new ones work', async () => {
      const id = await createUser(Role.Staff, 'sam');
      // The token and the change in the same second: the token ends all the same.
      await startOfSecond();
      const before: Credential = { bearer: await login(app, { username: 'sam' }, PASSWORD) };
      expect((await call(app, 'GET', '/api/v1/auth/me', before)).statusCode).toBe(200);
      const changed = await call(app, 'PATCH', `/api/v1/users/${id}`, c.admin, {
        password: 'another new password',
      });
      expect(changed.statusCode).toBe(200);
      const stale = await call(app, 'GET', '/api/v1/auth/me', before);
      expect({ status: stale.statusCode, code: stale.json().code }).toEqual({
        status: 401,
        code: 'invalid_token',
      });
      // At once, even in the second of the change.
      const after: Credential = {
        bearer: await login(app, { username: 'sam' }, 'another new password'),
      };
      expect((await call(app, 'GET', '/api/v1/auth/me', after)).statusCode).toBe(200);
      // Only that user's: the admin who changed it, and everyone else, stay logged in.
      expect((await call(app, 'GET', '/api/v1/auth/me', c.admin)).statusCode).toBe(200);
      expect((await call(app, 'GET', '/api/v1/auth/me', c.staff)).statusCode).toBe(200);
    });

    it('does not let an admin disable, demote or delete themselves', async () => {
      const me = (await call(app, 'GET', '/api/v1/auth/me', c.admin)).json().user.id;
      for (const [method, body] of [
        ['PATCH', { disabled: true }],
        ['PATCH', { role: 'staff' }],
        ['DELETE', undefined],
      ] as const) {
        const res = await call(app, method, `/api/v1/users/${me}`, c.admin, body);
        expect(res.statusCode).toBe(409);
        expect(res.json().code).toBe('cannot_modify_self');
      }
    });

    it('gives no role or password whose scopes the caller lacks', async () => {
      const usersOnly = {
        apiKey: (
          await createKey({ name: 'users only', role: Role.Admin, scopes: [Scope.UsersManage] })
        ).key,
      };
      const staffId = await createUser(Role.Staff, 'gwen');
      const countUsers = async () =>
        (await call(app, 'GET', '/api/v1/users?per_page=1', c.admin)).json().total as number;
      const before = await countUsers();
      const refusals: [string, 'POST' | 'PATCH', string, object, Scope[]][] = [
        [
          'an administrator',
          'POST',
          '/api/v1/users',
          { email: 'evil@test.example', username: 'evil', password: PASSWORD, role: 'admin' },
          Object.values(Scope).filter((scope) => scope !== Scope.UsersManage),
        ],
        ['a promotion', 'PATCH', `/api/v1/users/${staffId}`, { role: 'admin' }, []],
        [
          'a password to log in with',
          'PATCH',
          `/api/v1/users/${staffId}`,
          { password: 'a password I chose' },
          [Scope.ProductsRead, Scope.ProductsWrite, Scope.ImagesRead, Scope.ImagesWrite],
        ],
      ];
      for (const [what, method, url, body, required] of refusals) {
        const res = await call(app, method, url, usersOnly, body);
        expect({ what, status: res.statusCode, code: res.json().code }).toEqual({
          what,
          status: 403,
          code: 'insufficient_scope',
        });
        if (required.length > 0)
          expect(res.json().required_scopes.sort()).toEqual([...required].sort());
      }
      expect(await countUsers()).toBe(before);
      await expect(login(app, { username: 'gwen' }, 'a password I chose')).rejects.toThrow();
      expect((await call(app, 'GET', `/api/v1/users/${staffId}`, c.admin)).json().role).toBe(
        'staff',
      );
      // What gives nothing is still allowed: a name, disabling.
      const renamed = await call(app, 'PATCH', `/api/v1/users/${staffId}`, usersOnly, {
        full_name: 'Gwen Renamed',
        disabled: true,
      });
      expect(renamed.statusCode).toBe(200);
      // Enabling gives the user's scopes back (a disabled admin's own key could restore them).
      const enabled = await call(app, 'PATCH', `/api/v1/users/${staffId}`, usersOnly, {
        disabled: false,
      });
      expect(enabled.statusCode).toBe(403);
      expect(enabled.json().required_scopes.sort()).toEqual(
        [Scope.ProductsRead, Scope.ProductsWrite, Scope.ImagesRead, Scope.ImagesWrite].sort(),
      );
      expect((await call(app, 'GET', `/api/v1/users/${staffId}`, c.admin)).json().disabled).toBe(
        true,
      );
      // A JWT administrator holds every scope, and may do all of it.
      const promoted = await call(app, 'PATCH', `/api/v1/users/${staffId}`, c.admin, {
        role: 'admin',
        password: 'a password I chose',
        disabled: false,
      });
      expect(promoted.statusCode).toBe(200);
    });

    it('paginates', async () => {
      const page1 = (await call(app, 'GET', '/api/v1/users?per_page=2&page=1', c.admin)).json();
      const page2 = (await call(app, 'GET', '/api/v1/users?per_page=2&page=2', c.admin)).json();
      expect(page1.items).toHaveLength(2);
      expect(page1.total).toBeGreaterThan(3);
      expect(page2.items[0].id).not.toBe(page1.items[0].id);
      const bad = await call(app, 'GET', '/api/v1/users?per_page=1000', c.admin);
      expect(bad.statusCode).toBe(400);
    });
  });

  describe('API keys', () => {
    it('shows the full key once, and never again', async () => {
      const created = await createKey({ name: 'once' });
      expect(created.key).toMatch(/^pis_[A-Za-z0-9]{8}_/);
      const list = await call(app, 'GET', '/api/v1/api-keys?per_page=100', c.admin);
      expect(list.body).not.toContain(created.key);
      expect(list.body).not.toContain(secretOf(created.key));
      expect(list.body).not.toMatch(/secret|hash/);
      const listed = list.json().items.find((k: { id: string }) => k.id === created.id);
      expect(listed).toMatchObject({
        name: 'once',
        prefix: created.key.slice(4, 12),
        role: 'staff',
      });
      expect(listed.key).toBeUndefined();
    });

    it('refuses a name of spaces only, and keeps a name without its surrounding spaces', async () => {
      for (const name of ['   ', ' \t ']) {
        const res = await call(app, 'POST', '/api/v1/api-keys', c.admin, { name });
        expect(res.statusCode).toBe(400);
        expect(res.json().errors).toEqual([{ field: 'name', message: 'name should not be empty' }]);
      }
      const { id } = await createKey({ name: '  PIM import  ' });
      const read = await call(app, 'GET', `/api/v1/api-keys/${id}`, c.admin);
      expect(read.json().name).toBe('PIM import');
    });

    it('works as X-API-Key and as Authorization: Token', async () => {
      const { key } = await createKey({ name: 'both' });
      expect((await call(app, 'GET', '/api/v1/auth/me', { apiKey: key })).statusCode).toBe(200);
      expect((await call(app, 'GET', '/api/v1/auth/me', { token: key })).statusCode).toBe(200);
    });

    it('refuses two different credentials at once, and takes one sent twice', async () => {
      const { key } = await createKey({ name: 'two' });
      const other = await createKey({ name: 'other' });
      const res = await app.inject({
        method: 'GET',
        url: '/api/v1/auth/me',
        headers: { 'x-api-key': other.key, authorization: `Token ${key}` },
      });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ code: 'authentication_required' });
      const same = await app.inject({
        method: 'GET',
        url: '/api/v1/auth/me',
        headers: { 'x-api-key': key, authorization: `Bearer ${key}` },
      });
      expect(same.statusCode).toBe(200);
      // Two Authorization headers (Node keeps only the first in request.headers): refused too.
      const twice = await app.inject({
        method: 'GET',
        url: '/api/v1/auth/me',
        headers: { authorization: [`Token ${key}`, 'Bearer garbage'] as unknown as string },
      });
      expect(twice.statusCode).toBe(401);
      // Two X-API-Key lines (Node joins them into "k1, k2"): refused as two credentials, not as
      // an unknown key; the same key on both is that key.
      const keyLines = (...keys: string[]) =>
        app.inject({
          method: 'GET',
          url: '/api/v1/auth/me',
          headers: { 'x-api-key': keys as unknown as string },
        });
      for (const refused of [
        await keyLines(key, other.key),
        await app.inject({
          method: 'GET',
          url: '/api/v1/auth/me',
          headers: {
            'x-api-key': [key, other.key] as unknown as string,
            authorization: `Bearer ${(c.admin as { bearer: string }).bearer}`,
          },
        }),
      ]) {
        expect(refused.statusCode).toBe(401);
        expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(refused.headers['www-authenticate']).toContain('invalid_request');
        expect(refused.json()).toMatchObject({
          code: 'authentication_required',
          detail: expect.stringContaining('Send exactly one credential') as string,
        });
      }
      expect((await keyLines(key, key)).statusCode).toBe(200);
    });

    it('is not accepted in the query string unless enabled', async () => {
      const { key } = await createKey({ name: 'query' });
      const res = await call(app, 'GET', `/api/v1/auth/me?x-api-key=${key}`);
      expect(res.statusCode).toBe(401);
    });

    it('stops working as soon as it is revoked', async () => {
      const created = await createKey({ name: 'to revoke' });
      expect((await call(app, 'GET', '/api/v1/auth/me', { apiKey: created.key })).statusCode).toBe(
        200,
      );
      expect(
        (await call(app, 'DELETE', `/api/v1/api-keys/${created.id}`, c.admin)).statusCode,
      ).toBe(204);
      expect((await call(app, 'GET', '/api/v1/auth/me', { apiKey: created.key })).statusCode).toBe(
        401,
      );
      // Revoking again is harmless.
      expect(
        (await call(app, 'DELETE', `/api/v1/api-keys/${created.id}`, c.admin)).statusCode,
      ).toBe(204);
      const listed = (await call(app, 'GET', '/api/v1/api-keys?per_page=100', c.admin))
        .json()
        .items.find((k: { id: string }) => k.id === created.id);
      expect(listed.revoked_at).not.toBeNull();
      // Read where its creation said it is: the same key as listed, and never its secret.
      const read = await call(app, 'GET', `/api/v1/api-keys/${created.id}`, c.admin);
      expect(read.statusCode).toBe(200);
      // last_used_at is written in the background after the first use: it may land between the
      // two reads, but is the use's time, before the revocation, whenever it lands.
      const { last_used_at: lastUsed, ...rest } = read.json<Record<string, string | null>>();
      expect({ ...rest, last_used_at: listed.last_used_at }).toEqual(listed);
      if (lastUsed !== null)
        expect(Date.parse(lastUsed)).toBeLessThan(Date.parse(rest.revoked_at!));
      expect(read.json()).not.toHaveProperty('key');
      expect(read.body).not.toContain(created.key.slice('pis_12345678_'.length));
    });

    it('cannot hold scopes beyond its role', async () => {
      const res = await call(app, 'POST', '/api/v1/api-keys', c.admin, {
        name: 'greedy',
        role: 'user',
        scopes: ['images:read', 'images:write'],
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        code: 'scope_not_allowed',
        errors: [{ field: 'scopes' }],
      });
    });

    it('holds no scope its maker lacks', async () => {
      const keysOnly = {
        apiKey: (
          await createKey({ name: 'keys only', role: Role.Admin, scopes: [Scope.ApiKeysManage] })
        ).key,
      };
      const count = async () =>
        (await call(app, 'GET', '/api/v1/api-keys?per_page=1', c.admin)).json().total as number;
      const before = await count();
      // Every scope of the role, by default or asked for: refused, naming what it lacks.
      for (const body of [
        { name: 'escalated', role: 'admin' },
        { name: 'escalated', role: 'staff', scopes: [Scope.ImagesRead] },
      ]) {
        const res = await call(app, 'POST', '/api/v1/api-keys', keysOnly, body);
        expect(res.statusCode).toBe(403);
        expect(res.json()).toMatchObject({ code: 'insufficient_scope' });
        expect(res.json().required_scopes).toContain(Scope.ImagesRead);
        expect(res.json().required_scopes).not.toContain(Scope.ApiKeysManage);
      }
      expect(await count()).toBe(before);
      // Within its own scopes, it may.
      const narrow = await call(app, 'POST', '/api/v1/api-keys', keysOnly, {
        name: 'narrow',
        role: 'admin',
        scopes: [Scope.ApiKeysManage],
      });
      expect(narrow.statusCode).toBe(201);
    });

    it('rejects an unknown scope and an expiry in the past', async () => {
      const unknownScope = await call(app, 'POST', '/api/v1/api-keys', c.admin, {
        name: 'x',
        scopes: ['everything'],
      });
      expect(unknownScope.statusCode).toBe(400);
      const past = await call(app, 'POST', '/api/v1/api-keys', c.admin, {
        name: 'x',
        expires_at: '2020-01-01T00:00:00Z',
      });
      expect(past.statusCode).toBe(400);
      // Not a date, a date that does not exist (new Date() made it 2 March), one in the server's
      // time zone, and a time without its offset: each refused, no key made.
      const keysBefore = (await call(app, 'GET', '/api/v1/api-keys', c.admin)).json().total;
      for (const expires_at of [
        'tomorrow',
        '2030-02-30T00:00:00Z',
        '1/2/2030',
        '2030-01-02T10:00',
      ]) {
        const notADate = await call(app, 'POST', '/api/v1/api-keys', c.admin, {
          name: 'x',
          expires_at,
        });
        expect({ expires_at, status: notADate.statusCode, body: notADate.json() }).toMatchObject({
          expires_at,
          status: 400,
          body: {
            code: 'validation_failed',
            errors: [
              {
                field: 'expires_at',
                message: 'expires_at must be an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z',
              },
            ],
          },
        });
      }
      expect((await call(app, 'GET', '/api/v1/api-keys', c.admin)).json().total).toBe(keysBefore);
      // With an offset, the instant it names.
      const offset = await createKey({ name: 'offset', expires_at: '2030-01-02T10:00:00+02:00' });
      expect((offset as { expires_at?: string }).expires_at).toBe('2030-01-02T08:00:00.000Z');
    });

    it('records when it was last used', async () => {
      const created = await createKey({ name: 'used' });
      await call(app, 'GET', '/api/v1/auth/me', { apiKey: created.key });
      const ds = app.get(DataSource);
      let lastUsed: Date | null = null;
      for (let i = 0; i < 50 && !lastUsed; i++) {
        [{ last_used_at: lastUsed }] = await ds.query(
          'SELECT last_used_at FROM api_keys WHERE id = $1',
          [decodeId(created.id)],
        );
        if (!lastUsed) await new Promise((r) => setTimeout(r, 20));
      }
      expect(lastUsed).not.toBeNull();
      const listed = (await call(app, 'GET', '/api/v1/api-keys?per_page=100', c.admin))
        .json()
        .items.find((k: { id: string }) => k.id === created.id);
      expect(listed.last_used_at).not.toBeNull();
    });

    it('stores only a hash of the secret', async () => {
      const created = await createKey({ name: 'hashed' });
      const [row] = await app
        .get(DataSource)
        .query('SELECT * FROM api_keys WHERE id = $1', [decodeId(created.id)]);
      expect(JSON.stringify(row)).not.toContain(secretOf(created.key));
      expect(row.secret_hash).toMatch(/^[0-9a-f]{64}$/);
    });
  });

  it('documents the three security schemes and attaches them to protected operations only', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs-json' })).json();
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual([
      'api_key',
      'bearer',
      'token',
    ]);
    expect(doc.paths['/api/v1/auth/login'].post.security).toEqual([]);
    expect(doc.paths['/health'].get.security).toEqual([]);
    expect(doc.paths['/api/v1/users'].get.security).toEqual([
      { bearer: [] },
      { api_key: [] },
      { token: [] },
    ]);
    // A user's own session only: an API key is refused (403 user_session_required).
    expect(doc.paths['/api/v1/auth/password'].post.security).toEqual([{ bearer: [] }]);
  });
});
