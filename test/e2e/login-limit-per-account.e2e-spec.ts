import type { Response as InjectResponse } from 'light-my-request';
import { DataSource } from 'typeorm';
import { Role } from '../../src/auth/roles';
import { TEST_PASSWORD } from '../support/accounts';
import { attemptLogin, call, login } from '../support/http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

const LIMIT = 4;

describe('Login limit per account, whichever identifier names it', () => {
  let t: TestApp;
  let address = 0;

  beforeAll(async () => {
    t = await startTestApp({
      LOGIN_RATE_LIMIT: String(LIMIT),
      LOGIN_RATE_WINDOW_SECONDS: '60',
    });
    const admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    // Made without logging them in (every attempt counts, a successful one too).
    for (const username of ['alice', 'bob', 'carol', 'dana']) {
      const res = await call(t.app, 'POST', '/api/v1/users', admin, {
        email: `${username}@test.example`,
        username,
        password: TEST_PASSWORD,
        role: Role.User,
      });
      expect(res.statusCode).toBe(201);
    }
  });
  afterAll(() => t.close());

  /** One attempt, each from an address of its own: only the per-account limit can apply. */
  function attempt(identity: { email?: string; username?: string }, password = 'wrong password') {
    address += 1;
    return attemptLogin(t.app, identity, password, `198.51.100.${address}`);
  }

  /** One attempt for `username` from a chosen address. */
  function loginFrom(username: string, remoteAddress: string, password: string) {
    return attemptLogin(t.app, { username }, password, remoteAddress);
  }

  function expectLimited(res: InjectResponse): void {
    expect(res.statusCode).toBe(429);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ code: 'login_rate_limited', status: 429 });
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.headers['x-request-id']).toBeTruthy();
    // Only the documented headers: not the throttler library's own, per throttler name.
    expect(Object.keys(res.headers).filter((name) => /ratelimit|retry-after-/i.test(name))).toEqual(
      [],
    );
  }

  it("answers a login within the limits without the throttler library's headers", async () => {
    const res = await loginFrom('nobody-at-all', '198.51.100.200', 'wrong-password');
    expect(res.statusCode).toBe(401);
    expect(Object.keys(res.headers).filter((name) => /ratelimit/i.test(name))).toEqual([]);
  });

  it('counts attempts alternating email and username against the one account', async () => {
    const alternating = [
      { email: 'alice@test.example' },
      { username: 'alice' },
      { email: 'ALICE@test.example' },
      { username: 'Alice' },
    ];
    for (const identity of alternating) expect((await attempt(identity)).statusCode).toBe(401);
    expectLimited(await attempt({ username: 'alice' }));
    expectLimited(await attempt({ email: 'alice@test.example' }));
    // The account is held for the window, even with its right password.
    expectLimited(await attempt({ username: 'alice' }, TEST_PASSWORD));
  });

  it('limits at the same count as attempts that use one identifier only', async () => {
    for (let i = 0; i < LIMIT; i++) {
      expect((await attempt({ email: 'bob@test.example' })).statusCode).toBe(401);
    }
    expectLimited(await attempt({ email: 'bob@test.example' }));
  });

  it('limits an unknown identifier the same way, with the same answers', async () => {
    const known: InjectResponse[] = [];
    const unknown: InjectResponse[] = [];
    for (let i = 0; i <= LIMIT; i++) {
      unknown.push(await attempt({ email: 'nobody@test.example' }));
      known.push(await attempt({ email: 'carol@test.example' }));
    }
    const shape = (r: InjectResponse) => ({
      status: r.statusCode,
      code: r.json<{ code: string }>().code,
      keys: Object.keys(r.json<object>()).sort(),
    });
    expect(unknown.map(shape)).toEqual(known.map(shape));
    expect(unknown.map((r) => r.statusCode)).toEqual([401, 401, 401, 401, 429]);
    // An unknown email and the same text as a username are one name, as before.
    expectLimited(await attempt({ username: 'nobody@test.example' }));
  });

  it("keeps the owner's usual address out of a lockout sent from elsewhere, and limits it too", async () => {
    const from = (remoteAddress: string, password: string) =>
      loginFrom('dana', remoteAddress, password);
    const HOME = '203.0.113.10';
    expect((await from(HOME, TEST_PASSWORD)).statusCode).toBe(200);
    // Someone fails Dana's logins from many addresses, on and on.
    for (let i = 0; i < LIMIT * 2; i++) await attempt({ username: 'dana' });
    expectLimited(await attempt({ username: 'dana' }, TEST_PASSWORD));
    // A new address of Dana's is held with them; the one she logged in from is not.
    expectLimited(await from('203.0.113.11', TEST_PASSWORD));
    expect((await from(HOME, TEST_PASSWORD)).statusCode).toBe(200);
    // Guesses from that address are limited all the same (its own count, and the address's).
    for (let i = 2; i < LIMIT; i++) expect((await from(HOME, 'wrong')).statusCode).toBe(401);
    expectLimited(await from(HOME, TEST_PASSWORD));
    // The address is remembered in the database, once, for Dana only.
    const rows = await t.app.get(DataSource).query<{ address: string }[]>(
      `SELECT a.address FROM user_login_addresses a JOIN users u ON u.id = a.user_id
          WHERE u.username = 'dana'`,
    );
    expect(rows).toEqual([{ address: HOME }]);
  });

  it('forgets the addresses an account logged in from when its password changes', async () => {
    const admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const erin = await call(t.app, 'POST', '/api/v1/users', admin, {
      email: 'erin@test.example',
      username: 'erin',
      password: TEST_PASSWORD,
      role: Role.User,
    });
    const from = (remoteAddress: string, password: string) =>
      loginFrom('erin', remoteAddress, password);
    // A thief logs in with Erin's password; her administrator then changes it.
    const THIEF = '192.0.2.66';
    expect((await from(THIEF, TEST_PASSWORD)).statusCode).toBe(200);
    const NEW_PASSWORD = `${TEST_PASSWORD}-changed`;
    const changed = await call(t.app, 'PATCH', `/api/v1/users/${erin.json().id}`, admin, {
      password: NEW_PASSWORD,
    });
    expect(changed.statusCode).toBe(200);
    // Guesses at the new password flood in from everywhere: the thief's address is one of them
    // now, not the owner's, with a count of its own.
    for (let i = 0; i < LIMIT * 2; i++) await attempt({ username: 'erin' });
    expectLimited(await from(THIEF, NEW_PASSWORD));
    const rows = await t.app.get(DataSource).query<{ address: string }[]>(
      `SELECT a.address FROM user_login_addresses a JOIN users u ON u.id = a.user_id
          WHERE u.username = 'erin'`,
    );
    expect(rows).toEqual([]);
  });

  it('leaves other accounts alone', async () => {
    expect((await attempt({ username: 'admin' })).statusCode).toBe(401);
    const res = await attempt({ email: TEST_ADMIN.email }, TEST_ADMIN.password);
    expect(res.statusCode).toBe(200);
  });
});
