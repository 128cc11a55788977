import type { Response as InjectResponse } from 'light-my-request';
import { Role } from '../../src/auth/roles';
import { TEST_PASSWORD } from '../support/accounts';
import { attemptLogin, call, type Credential } from '../support/http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

const LIMIT = 5;
const ROUTE = '/api/v1/auth/password';
const NEW_PASSWORD = 'a brand new passphrase';

interface Token {
  access_token: string;
  token: string;
  token_type: string;
  expires_in: number;
}

/**
 * `POST /api/v1/auth/password`: a logged-in user (any role) changes their own password, proving
 * the current one, within the login's limits, ending every other session.
 */
describe('Changing your own password', () => {
  let t: TestApp;
  let admin: Credential;
  let address = 0;

  /** An address of its own for each call that counts, unless one is named. */
  const nextAddress = () => `198.51.100.${++address}`;

  beforeAll(async () => {
    t = await startTestApp({
      LOGIN_RATE_LIMIT: String(LIMIT),
      LOGIN_RATE_WINDOW_SECONDS: '60',
    });
    admin = {
      bearer: await loginFrom(nextAddress(), { email: TEST_ADMIN.email }, TEST_ADMIN.password),
    };
  });
  afterAll(() => t.close());

  async function loginFrom(
    remoteAddress: string,
    identity: { email?: string; username?: string },
    password: string,
  ): Promise<string> {
    const res = await attemptLogin(t.app, identity, password, remoteAddress);
    if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
    return res.json<Token>().access_token;
  }

  /** A new user of this role, made by the admin (not logged in: a login counts). */
  async function newUser(username: string, role = Role.User): Promise<void> {
    const res = await call(t.app, 'POST', '/api/v1/users', admin, {
      email: `${username}@test.example`,
      username,
      password: TEST_PASSWORD,
      role,
    });
    expect(res.statusCode).toBe(201);
  }

  function change(
    credential: Credential,
    body: unknown,
    remoteAddress = nextAddress(),
    headers: Record<string, string> = {},
  ): Promise<InjectResponse> {
    return call(t.app, 'POST', ROUTE, credential, body, { remoteAddress, headers });
  }

  function expectProblem(res: InjectResponse, status: number, code: string): void {
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status, code });
  }

  const me = (credential: Credential) => call(t.app, 'GET', '/api/v1/auth/me', credential);

  it('changes it, answers a fresh token, ends every other session, and the new one logs in', async () => {
    await newUser('sam', Role.Staff);
    const home = nextAddress();
    const tab = { bearer: await loginFrom(home, { username: 'sam' }, TEST_PASSWORD) };
    const phone = { bearer: await loginFrom(nextAddress(), { username: 'sam' }, TEST_PASSWORD) };

    const res = await change(
      tab,
      { current_password: TEST_PASSWORD, new_password: NEW_PASSWORD },
      home,
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const fresh = res.json<Token>();
    expect(fresh).toEqual({
      access_token: expect.any(String),
      token: fresh.access_token,
      token_type: 'Bearer',
      expires_in: expect.any(Number),
    });

    // The caller goes on with the answered token; every token issued before is refused.
    const meNow = await me({ bearer: fresh.access_token });
    expect(meNow.statusCode).toBe(200);
    expect(meNow.json()).toMatchObject({ type: 'user', user: { username: 'sam' } });
    expectProblem(await me(tab), 401, 'invalid_token');
    expectProblem(await me(phone), 401, 'invalid_token');

    // The old password logs in no more; the new one does.
    expectProblem(
      await attemptLogin(t.app, { username: 'sam' }, TEST_PASSWORD, nextAddress()),
      401,
      'invalid_login',
    );
    const relogin = await attemptLogin(
      t.app,
      { email: 'sam@test.example' },
      NEW_PASSWORD,
      nextAddress(),
    );
    expect(relogin.statusCode).toBe(200);
    expect((await me({ bearer: fresh.access_token })).statusCode).toBe(200);
  });

  it('refuses a wrong current password with 403, changing nothing and ending no session', async () => {
    await newUser('wanda');
    const home = nextAddress();
    const token = { bearer: await loginFrom(home, { username: 'wanda' }, TEST_PASSWORD) };
    const res = await change(
      token,
      { current_password: 'not the password', new_password: NEW_PASSWORD },
      home,
    );
    expectProblem(res, 403, 'wrong_current_password');
    // Not a 401: the session is good (a client must not take it for a logout).
    expect(res.headers['www-authenticate']).toBeUndefined();
    expect((await me(token)).statusCode).toBe(200);
    expect(
      (await attemptLogin(t.app, { username: 'wanda' }, NEW_PASSWORD, nextAddress())).statusCode,
    ).toBe(401);
    expect(
      (await attemptLogin(t.app, { username: 'wanda' }, TEST_PASSWORD, nextAddress())).statusCode,
    ).toBe(200);
  });

  it('refuses a new password equal to the current one with 400 password_unchanged, once the current one is proved', async () => {
    await newUser('ursula');
    const home = nextAddress();
    const token = { bearer: await loginFrom(home, { username: 'ursula' }, TEST_PASSWORD) };
    const same = { current_password: TEST_PASSWORD, new_password: TEST_PASSWORD };
    const res = await change(token, same, home);
    expectProblem(res, 400, 'password_unchanged');
    expect(res.json()).toMatchObject({ errors: [{ field: 'new_password' }] });
    // Nothing changed, no session ended: the token and the password go on working.
    expect((await me(token)).statusCode).toBe(200);
    expect(
      (await attemptLogin(t.app, { username: 'ursula' }, TEST_PASSWORD, nextAddress())).statusCode,
    ).toBe(200);
    // The current password is checked first: a wrong one is said so, whatever the new one.
    const wrong = { current_password: 'not the password', new_password: 'not the password' };
    expectProblem(await change(token, wrong, home), 403, 'wrong_current_password');
  });

  it("counts each attempt in login's limits from its address (per address, and the account's there), and login's against it", async () => {
    await newUser('gus');
    const home = nextAddress();
    const token = { bearer: await loginFrom(home, { username: 'gus' }, TEST_PASSWORD) };
    const guess = { current_password: 'guess number one', new_password: NEW_PASSWORD };
    // The login from home was the first attempt from there; guesses take the rest.
    for (let i = 1; i < LIMIT; i++) {
      expectProblem(await change(token, guess, home), 403, 'wrong_current_password');
    }
    const limited = await change(token, guess, home);
    expectProblem(limited, 429, 'login_rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // The budget is login's: the right password does not log in from there either, and the
    // right current password changes nothing.
    expectProblem(
      await attemptLogin(t.app, { username: 'gus' }, TEST_PASSWORD, home),
      429,
      'login_rate_limited',
    );
    expectProblem(
      await change(token, { current_password: TEST_PASSWORD, new_password: NEW_PASSWORD }, home),
      429,
      'login_rate_limited',
    );
    expect((await me(token)).statusCode).toBe(200);
  });

  it('is refused once failed logins from anywhere spent the account’s limit', async () => {
    await newUser('hana');
    const token = { bearer: await loginFrom(nextAddress(), { username: 'hana' }, TEST_PASSWORD) };
    // Her first login from there counted against the account (the address was not hers yet).
    for (let i = 1; i < LIMIT; i++) {
      const res = await attemptLogin(t.app, { username: 'hana' }, 'wrong password', nextAddress());
      expect(res.statusCode).toBe(401);
    }
    // From an address never used: only the account's count (shared with login) can refuse it.
    expectProblem(
      await change(token, { current_password: TEST_PASSWORD, new_password: NEW_PASSWORD }),
      429,
      'login_rate_limited',
    );
    expect((await me(token)).statusCode).toBe(200);
  });

  it('applies the rules of a password set by an admin to the new one', async () => {
    await newUser('willa');
    const home = nextAddress();
    const token = { bearer: await loginFrom(home, { username: 'willa' }, TEST_PASSWORD) };
    for (const new_password of ['too short', 'x'.repeat(1025), '', 12345678901234]) {
      const res = await change(token, { current_password: TEST_PASSWORD, new_password }, home);
      expectProblem(res, 400, 'validation_failed');
      const fields = res.json<{ errors: { field: string }[] }>().errors.map((e) => e.field);
      expect([...new Set(fields)]).toEqual(['new_password']);
    }
    // Nothing changed: the token works, and the password is the old one.
    expect((await me(token)).statusCode).toBe(200);
    expect(
      (await attemptLogin(t.app, { username: 'willa' }, TEST_PASSWORD, nextAddress())).statusCode,
    ).toBe(200);
  });

  it('makes one of two changes sent at once, the other finding its session ended', async () => {
    await newUser('twin');
    const home = nextAddress();
    const token = { bearer: await loginFrom(home, { username: 'twin' }, TEST_PASSWORD) };
    const passwords = ['first new passphrase', 'second new passphrase'];
    const answers = await Promise.all(
      passwords.map((new_password) =>
        change(token, { current_password: TEST_PASSWORD, new_password }, home),
      ),
    );
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 401]);
    const won = answers.findIndex((r) => r.statusCode === 200);
    expectProblem(answers[1 - won], 401, 'invalid_token');
    const winner = passwords[won];
    expect(
      (await attemptLogin(t.app, { username: 'twin' }, winner, nextAddress())).statusCode,
    ).toBe(200);
    expect(
      (await attemptLogin(t.app, { username: 'twin' }, passwords[1 - won], nextAddress()))
        .statusCode,
    ).toBe(401);
  });

  it('refuses an API key: it is no user session, and has no password', async () => {
    const created = await call(t.app, 'POST', '/api/v1/api-keys', admin, { name: 'ci' });
    expect(created.statusCode).toBe(201);
    const key = { apiKey: created.json<{ key: string }>().key };
    for (const body of [
      { current_password: TEST_ADMIN.password, new_password: NEW_PASSWORD },
      {},
    ]) {
      const res = await change(key, body);
      expectProblem(res, 403, 'user_session_required');
    }
    // The admin's password is unchanged.
    expect(
      (await attemptLogin(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password, nextAddress()))
        .statusCode,
    ).toBe(200);
  });

  it('needs a credential', async () => {
    expectProblem(
      await change(undefined, { current_password: 'x', new_password: NEW_PASSWORD }),
      401,
      'authentication_required',
    );
  });

  it('refuses hostile bodies with a problem, changing nothing', async () => {
    const bodies: [string, Record<string, string>, number, string][] = [
      ...[
        { current_password: `${TEST_PASSWORD}\u0000`, new_password: NEW_PASSWORD },
        { current_password: TEST_PASSWORD, new_password: `${NEW_PASSWORD}\u0000` },
        { current_password: ['x'], new_password: NEW_PASSWORD },
        { current_password: TEST_PASSWORD, new_password: { $gt: '' } },
        { current_password: null, new_password: null },
        { current_password: TEST_PASSWORD },
        { new_password: NEW_PASSWORD },
        { current_password: 'x'.repeat(1025), new_password: NEW_PASSWORD },
        { current_password: TEST_PASSWORD, new_password: NEW_PASSWORD, role: 'admin' },
        [TEST_PASSWORD, NEW_PASSWORD],
        'just a string',
      ].map((body): [string, Record<string, string>, number, string] => [
        JSON.stringify(body),
        JSON_TYPE,
        400,
        'validation_failed',
      ]),
      ['{"current_password":', JSON_TYPE, 400, 'malformed_json'],
      [
        JSON.stringify({ current_password: TEST_PASSWORD, new_password: 'x'.repeat(2 << 20) }),
        JSON_TYPE,
        413,
        'payload_too_large',
      ],
      [
        `current_password=${TEST_PASSWORD}&new_password=${NEW_PASSWORD}`,
        { 'content-type': 'application/x-www-form-urlencoded' },
        415,
        'unsupported_media_type',
      ],
    ];
    // A user each: every attempt counts against the account's login limit, a refused one too.
    for (const [i, [payload, headers, status, code]] of bodies.entries()) {
      await newUser(`hostile${i}`);
      const home = nextAddress();
      const token = { bearer: await loginFrom(home, { username: `hostile${i}` }, TEST_PASSWORD) };
      const res = await change(token, payload, home, headers);
      expectProblem(res, status, code);
      expect(res.body).not.toContain(TEST_PASSWORD);
      expect((await me(token)).statusCode).toBe(200);
    }
    expect(
      (await attemptLogin(t.app, { username: 'hostile0' }, TEST_PASSWORD, nextAddress()))
        .statusCode,
    ).toBe(200);
  });
});

const JSON_TYPE = { 'content-type': 'application/json' };
