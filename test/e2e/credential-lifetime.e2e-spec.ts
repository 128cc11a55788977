import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Role } from '../../src/auth/roles';
import { TEST_PASSWORD } from '../support/accounts';
import { call, login, type Credential } from '../support/http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * "A credential grants nothing it does not hold", its lifetime included: a key that expires
 * makes keys that expire no later. Nor may it make a credential that never expires by another
 * route: a user with a password (who logs in, and makes keys of their own) outlives it.
 */
describe('An expiring key makes no credential that outlives it', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;
  let expiring: { key: Credential; expiresAt: string };

  beforeAll(async () => {
    t = await startTestApp();
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const expiresAt = new Date(Date.now() + 3600_000).toISOString();
    const made = await call(app, 'POST', '/api/v1/api-keys', admin, {
      name: 'contractor, one hour',
      role: Role.Admin,
      expires_at: expiresAt,
    });
    expect(made.statusCode).toBe(201);
    expiring = { key: { apiKey: made.json().key as string }, expiresAt };
  });
  afterAll(() => t.close());

  it('caps the expiry of a key it makes (the rule as documented)', async () => {
    const res = await call(app, 'POST', '/api/v1/api-keys', expiring.key, { name: 'child' });
    expect(res.statusCode).toBe(201);
    expect(new Date(res.json().expires_at).getTime()).toBeLessThanOrEqual(
      new Date(expiring.expiresAt).getTime(),
    );
    const later = await call(app, 'POST', '/api/v1/api-keys', expiring.key, {
      name: 'later child',
      expires_at: new Date(Date.now() + 7200_000).toISOString(),
    });
    expect(later.statusCode).toBe(400);
  });

  it('makes no user with a password, who would log in and make a key that never expires', async () => {
    const created = await call(app, 'POST', '/api/v1/users', expiring.key, {
      email: 'forever@test.example',
      username: 'forever',
      password: TEST_PASSWORD,
      role: Role.Admin,
    });
    // What it leads to, were it allowed: a login, and a key without expiry.
    if (created.statusCode === 201) {
      const token: Credential = {
        bearer: await login(app, { username: 'forever' }, TEST_PASSWORD),
      };
      const key = await call(app, 'POST', '/api/v1/api-keys', token, { name: 'no expiry' });
      expect({ status: key.statusCode, expires_at: key.json().expires_at }).toEqual({
        status: 201,
        expires_at: null,
      });
    }
    expect(created.statusCode).toBe(403);
    expect(created.json().code).toBe('credential_outlives_caller');
    const users = await call(app, 'GET', '/api/v1/users?per_page=100', admin);
    expect(users.json().items.map((u: { username: string }) => u.username)).not.toContain(
      'forever',
    );
  });

  it("sets no password on an existing admin (the key's holder would log in as them)", async () => {
    const other = await call(app, 'POST', '/api/v1/users', admin, {
      email: 'second.admin@test.example',
      username: 'second.admin',
      password: 'the second admin own password',
      role: Role.Admin,
    });
    expect(other.statusCode).toBe(201);
    const res = await call(app, 'PATCH', `/api/v1/users/${other.json().id}`, expiring.key, {
      password: TEST_PASSWORD,
    });
    expect(res.statusCode).toBe(403);
    const relogin = await call(app, 'POST', '/api/v1/auth/login', undefined, {
      username: 'second.admin',
      password: TEST_PASSWORD,
    });
    expect(relogin.statusCode).toBe(401);
  });

  it('brings no disabled admin back, whose password its holder may know', async () => {
    const made = await call(app, 'POST', '/api/v1/users', admin, {
      email: 'left.admin@test.example',
      username: 'left.admin',
      password: TEST_PASSWORD,
      role: Role.Admin,
    });
    expect(made.statusCode).toBe(201);
    const id = made.json().id as string;
    expect(
      (await call(app, 'PATCH', `/api/v1/users/${id}`, admin, { disabled: true })).statusCode,
    ).toBe(200);
    const res = await call(app, 'PATCH', `/api/v1/users/${id}`, expiring.key, { disabled: false });
    expect(res.statusCode).toBe(403);
    expect((await call(app, 'GET', `/api/v1/users/${id}`, admin)).json().disabled).toBe(true);
    // What gives no login stays open to it: a name, disabling.
    const renamed = await call(app, 'PATCH', `/api/v1/users/${id}`, expiring.key, {
      full_name: 'Left the company',
    });
    expect(renamed.statusCode).toBe(200);
  });
});
