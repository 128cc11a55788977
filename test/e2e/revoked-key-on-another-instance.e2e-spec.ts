import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory';
import { call, login, type Credential } from '../support/http';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { TEST_ADMIN, testAppEnv } from '../support/test-app';

const onServer = process.env.TEST_DATABASE_URL ? describe : describe.skip;
const JWT_SECRET = 'revoked-key-test-secret-of-at-least-32-characters';

/**
 * Two instances of the service on one PostgreSQL database, as a deployment runs them. Each keeps
 * an API key's row for 5 seconds, so a key revoked through one is still admitted by the other
 * for that long (documented). In that window it must not grant anything that outlives it: a key
 * (which its revocation, already done, would not take), or a login (a user with a password, a
 * password set, a user enabled). Both were granted, found by a review helper.
 */
onServer('A key revoked on one instance, still cached by another', () => {
  let db: TestDatabase;
  let a: NestFastifyApplication;
  let b: NestFastifyApplication;
  let admin: Credential;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const env = testAppEnv(db, { JWT_SECRET, LOGIN_RATE_LIMIT: '1000' });
    a = await createApp({ env });
    b = await createApp({ env });
    admin = { bearer: await login(a, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  /** An admin key in use on B (so B caches it), then revoked through A. */
  async function revokedButCachedOnB(name: string): Promise<Credential> {
    const made = await call(a, 'POST', '/api/v1/api-keys', admin, { name, role: 'admin' });
    expect(made.statusCode).toBe(201);
    const leaked = made.json<{ id: string; key: string }>();
    expect((await call(b, 'GET', '/api/v1/auth/me', { apiKey: leaked.key })).statusCode).toBe(200);
    expect((await call(a, 'DELETE', `/api/v1/api-keys/${leaked.id}`, admin)).statusCode).toBe(204);
    expect((await call(a, 'GET', '/api/v1/auth/me', { apiKey: leaked.key })).statusCode).toBe(401);
    return { apiKey: leaked.key };
  }

  it('makes no key', async () => {
    const leaked = await revokedButCachedOnB('leaked');
    const child = await call(b, 'POST', '/api/v1/api-keys', leaked, { name: 'persistence' });
    expect(child.statusCode).toBe(401);
    expect(child.json()).toMatchObject({ code: 'invalid_api_key' });
    const keys = await call(a, 'GET', '/api/v1/api-keys?per_page=100', admin);
    expect(keys.json<{ items: { name: string }[] }>().items.map((k) => k.name)).not.toContain(
      'persistence',
    );
  });

  it('makes no user with a password', async () => {
    const leaked = await revokedButCachedOnB('leaked-2');
    const created = await call(b, 'POST', '/api/v1/users', leaked, {
      email: 'backdoor@test.example',
      username: 'backdoor',
      password: 'backdoor-password-1234',
      role: 'admin',
    });
    expect(created.statusCode).toBe(401);
    expect(created.json()).toMatchObject({ code: 'invalid_api_key' });
    const backdoor = await call(a, 'POST', '/api/v1/auth/login', undefined, {
      email: 'backdoor@test.example',
      password: 'backdoor-password-1234',
    });
    expect(backdoor.statusCode).toBe(401);
  });

  it("sets no user's password and enables no user", async () => {
    const user = await call(a, 'POST', '/api/v1/users', admin, {
      email: 'sam@test.example',
      username: 'sam',
      password: 'sams-own-password-1234',
      role: 'staff',
    });
    expect(user.statusCode).toBe(201);
    const id = user.json<{ id: string }>().id;
    expect(
      (await call(a, 'PATCH', `/api/v1/users/${id}`, admin, { disabled: true })).statusCode,
    ).toBe(200);
    const leaked = await revokedButCachedOnB('leaked-3');

    for (const change of [{ password: 'chosen-by-the-thief-1234' }, { disabled: false }]) {
      const res = await call(b, 'PATCH', `/api/v1/users/${id}`, leaked, change);
      expect(res.statusCode).toBe(401);
    }
    const row = await call(a, 'GET', `/api/v1/users/${id}`, admin);
    expect(row.json()).toMatchObject({ disabled: true });
    expect(
      (await call(a, 'PATCH', `/api/v1/users/${id}`, admin, { disabled: false })).statusCode,
    ).toBe(200);
    const own = await call(a, 'POST', '/api/v1/auth/login', undefined, {
      email: 'sam@test.example',
      password: 'sams-own-password-1234',
    });
    expect(own.statusCode).toBe(200);
  });
});
