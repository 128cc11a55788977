import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { TEST_PASSWORD } from '../support/accounts';
import { call, login, type Credential } from '../support/http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * README: an address has one spelling (trimmed, NFC, lower-cased, its domain as IDNA maps it),
 * and "every spelling the email rule accepts logs in to the one account". The spellings
 * `POST /api/v1/users` takes log in, not `400 validation_failed`.
 */
describe('Login by any spelling of the address the user was created with', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;

  beforeAll(async () => {
    t = await startTestApp({ LOGIN_RATE_LIMIT: '1000' });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });
  afterAll(() => t.close());

  it.each([
    ['surrounding spaces', '  Ann.Spaces@Example.COM  ', 'ann.spaces@example.com'],
    ['a full-width domain', 'ann.wide@ｅｘａｍｐｌｅ.com', 'ann.wide@example.com'],
    ['an ideographic full stop', 'ann.stop@example。com', 'ann.stop@example.com'],
  ])('logs in with %s', async (_, spelling, stored) => {
    const username = stored.split('@')[0].replace('.', '-');
    const created = await call(app, 'POST', '/api/v1/users', admin, {
      email: spelling,
      username,
      password: TEST_PASSWORD,
      role: 'user',
    });
    expect(created.statusCode).toBe(201);
    expect(created.json<{ email: string }>().email).toBe(stored);
    // The spelling the account was created with, and the stored one.
    for (const email of [spelling, stored]) {
      const res = await call(app, 'POST', '/api/v1/auth/login', undefined, {
        email,
        password: TEST_PASSWORD,
      });
      expect({ email, status: res.statusCode }).toEqual({ email, status: 200 });
    }
    // A wrong password in that spelling is the usual 401, not a 400.
    const wrong = await call(app, 'POST', '/api/v1/auth/login', undefined, {
      email: spelling,
      password: 'not the password at all',
    });
    expect(wrong.json()).toMatchObject({ status: 401, code: 'invalid_login' });
  });

  it('still refuses what is no address, and one over 320 characters once spelled so', async () => {
    for (const email of [
      'not an address',
      `${'a'.repeat(60)}@${'b'.repeat(63)}.${'㌖'.repeat(50)}`,
    ]) {
      const res = await call(app, 'POST', '/api/v1/auth/login', undefined, {
        email,
        password: TEST_PASSWORD,
      });
      expect(res.json()).toMatchObject({ status: 400, code: 'validation_failed' });
    }
  });
});

/**
 * The login limit counts an account's attempts whatever spelling of its address they name: the
 * spelling it is found by at login must be the one the limit counts. An address whose letters
 * lower-case into a sequence Unicode composes further (Greek Ϊ + an acute accent: ΐ, once
 * composed, once not) was found at login in one spelling and counted by the limit in another, a
 * budget of its own.
 */
describe('The login limit of an address that lower-cases into an uncomposed sequence', () => {
  let t: TestApp;
  let app: NestFastifyApplication;

  beforeAll(async () => {
    t = await startTestApp({ LOGIN_RATE_LIMIT: '2' });
    app = t.app;
  });
  afterAll(() => t.close());

  it('counts both spellings against the one account', async () => {
    const admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const typed = 'ma\u03aa\u0301@greek.example';
    const created = await call(app, 'POST', '/api/v1/users', admin, {
      email: typed,
      username: 'maia',
      password: TEST_PASSWORD,
      role: 'user',
    });
    expect(created.statusCode).toBe(201);
    const stored = created.json<{ email: string }>().email;
    expect(stored).toBe(stored.normalize('NFC'));
    // Each attempt from an address of its own: only the per-account limit can refuse them.
    const attempt = (email: string, n: number) =>
      call(
        app,
        'POST',
        '/api/v1/auth/login',
        undefined,
        { email, password: 'not the password at all' },
        { remoteAddress: `198.51.100.${n}` },
      );
    const statuses = [
      (await attempt(typed, 1)).statusCode,
      (await attempt(stored, 2)).statusCode,
      (await attempt(typed, 3)).statusCode,
    ];
    expect(statuses).toEqual([401, 401, 429]);
  });
});
