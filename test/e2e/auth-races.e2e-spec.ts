import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { getRepositoryToken } from '@nestjs/typeorm';
import { DataSource, type Repository } from 'typeorm';
import { AccountsService } from '../../src/auth/accounts.service';
import { ApiKey } from '../../src/auth/entities/api-key.entity';
import { Role } from '../../src/auth/roles';
import { User } from '../../src/auth/entities/user.entity';
import { decodeId } from '../../src/common/ids/short-id';
import { TEST_PASSWORD } from '../support/accounts';
import { call, login, type Credential } from '../support/http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/** A one-shot pause: the next read that `matches` waits, after reading, until `release()`. */
function gateOn<T extends object>(
  repository: Repository<T>,
  matches: (where: Record<string, unknown>) => boolean,
) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let read!: () => void;
  const hasRead = new Promise<void>((resolve) => (read = resolve));
  let armed = true;
  const original = repository.findOneBy.bind(repository);
  const spy = jest
    .spyOn(repository, 'findOneBy')
    .mockImplementation(async (where: Parameters<Repository<T>['findOneBy']>[0]) => {
      const row = await original(where);
      if (armed && !Array.isArray(where) && matches(where)) {
        armed = false;
        read();
        await released;
      }
      return row;
    });
  return { hasRead, release, restore: () => spy.mockRestore() };
}

/**
 * Decisions on credentials taken on rows read before a concurrent change committed, each made
 * to happen by holding one read (a Jest spy on the repository) until the change is in: the
 * interleaving a slow read gives in production. And the lifetime a key passes on.
 */
describe('Authorisation decisions taken on rows read before a concurrent change', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;

  // Each case on an application of its own: one leaves its organisation without an admin.
  beforeEach(async () => {
    t = await startTestApp({ LOGIN_RATE_LIMIT: '1000' });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });
  afterEach(() => t.close());

  it('refuses a key revoked on this instance while a request with it was reading its row', async () => {
    const created = await call(app, 'POST', '/api/v1/api-keys', admin, {
      name: 'leaked',
      role: 'staff',
    });
    expect(created.statusCode).toBe(201);
    const { id, key, prefix } = created.json<{ id: string; key: string; prefix: string }>();
    const keys = app.get<Repository<ApiKey>>(getRepositoryToken(ApiKey));
    // A request with the key reads its row (not revoked yet) and is slow to go on.
    const gate = gateOn(keys, (where) => where.prefix === prefix);
    const inFlight = call(app, 'GET', '/api/v1/auth/me', { apiKey: key });
    await gate.hasRead;
    // Meanwhile an admin revokes it, on this same instance.
    expect((await call(app, 'DELETE', `/api/v1/api-keys/${id}`, admin)).statusCode).toBe(204);
    gate.release();
    await inFlight; // admitted before the revocation: either answer is fine
    gate.restore();
    // README: a revoked key stops working at once on the instance that revoked it.
    const after = await call(app, 'GET', '/api/v1/auth/me', { apiKey: key });
    expect(after.statusCode).toBe(401);
  });

  it('leaves no key working that a key made while it was being revoked', async () => {
    const created = await call(app, 'POST', '/api/v1/api-keys', admin, {
      name: 'leaked',
      role: 'admin',
    });
    expect(created.statusCode).toBe(201);
    const { id, key, prefix } = created.json<{ id: string; key: string; prefix: string }>();
    const keys = app.get<Repository<ApiKey>>(getRepositoryToken(ApiKey));
    // Whoever holds the leaked key asks for a new key; its request has read the key's row...
    const gate = gateOn(keys, (where) => where.prefix === prefix);
    const making = call(
      app,
      'POST',
      '/api/v1/api-keys',
      { apiKey: key },
      {
        name: 'spare',
        role: 'admin',
      },
    );
    await gate.hasRead;
    // ...when an admin revokes the leaked key.
    expect((await call(app, 'DELETE', `/api/v1/api-keys/${id}`, admin)).statusCode).toBe(204);
    gate.release();
    const made = await making;
    gate.restore();
    // The request was admitted before the revocation, but a key it made would outlive it
    // (README: DELETE revokes the key "and with it every key it made"): refused, as the key is.
    const spare = made.json<{ key?: string; code?: string }>();
    const after = spare.key && (await call(app, 'GET', '/api/v1/auth/me', { apiKey: spare.key }));
    expect({
      status: made.statusCode,
      code: spare.code,
      spareWorks: after && after.statusCode,
    }).toEqual({ status: 401, code: 'invalid_api_key', spareWorks: undefined });
  });

  it.each([
    ['the revoked key', false],
    ['a key the revoked key made', true],
  ])('revokes a key that %s was making when the revocation began', async (_, byChild) => {
    const created = await call(app, 'POST', '/api/v1/api-keys', admin, {
      name: 'leaked',
      role: 'admin',
    });
    const { id, key } = created.json<{ id: string; key: string }>();
    const child = byChild
      ? await call(app, 'POST', '/api/v1/api-keys', { apiKey: key }, { name: 'child' })
      : created;
    const me = await call(app, 'GET', '/api/v1/auth/me', admin);
    const organizationId = decodeId(me.json<{ organization: { id: string } }>().organization.id);
    const makerId = decodeId(child.json<{ id: string }>().id);
    if (!organizationId || !makerId) throw new Error('The ids given do not decode.');
    const database = app.get(DataSource);
    // The maker is making a key, in a transaction not committed yet (as a POST would)...
    const making = database.createQueryRunner();
    await making.connect();
    await making.startTransaction();
    const { key: spare } = await app
      .get(AccountsService)
      .createApiKey(
        organizationId,
        { name: 'spare', role: Role.Admin, createdByKeyId: makerId },
        making.manager,
      );
    // ...when an admin revokes the leaked key: the revocation waits for the key being made, if it
    // waits.
    const revoking = call(app, 'DELETE', `/api/v1/api-keys/${id}`, admin);
    const waiting = async (): Promise<void> => {
      const [row] = await database.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      if (row.n === 0) await new Promise((resolve) => setTimeout(resolve, 20)).then(waiting);
    };
    await Promise.race([revoking, waiting()]);
    await making.commitTransaction();
    await making.release();
    expect((await revoking).statusCode).toBe(204);
    const after = await call(app, 'GET', '/api/v1/auth/me', { apiKey: spare });
    expect(after.json()).toMatchObject({ status: 401, code: 'invalid_api_key' });
  });

  it('answers 401 invalid_login, not 500, to a login whose user is deleted while it is checked', async () => {
    const made = await call(app, 'POST', '/api/v1/users', admin, {
      email: 'leaver@test.example',
      username: 'leaver',
      password: TEST_PASSWORD,
      role: 'staff',
    });
    expect(made.statusCode).toBe(201);
    const id = made.json<{ id: string }>().id;
    const users = app.get<Repository<User>>(getRepositoryToken(User));
    // The login reads the account (then verifies the password: Argon2, tens of milliseconds)...
    const gate = gateOn(users, (where) => where.email === 'leaver@test.example');
    const loggingIn = call(app, 'POST', '/api/v1/auth/login', undefined, {
      email: 'leaver@test.example',
      password: TEST_PASSWORD,
    });
    await gate.hasRead;
    // ...while an admin deletes the account.
    expect((await call(app, 'DELETE', `/api/v1/users/${id}`, admin)).statusCode).toBe(204);
    gate.release();
    const res = await loggingIn;
    gate.restore();
    expect({ status: res.statusCode, code: res.json<{ code: string }>().code }).toEqual({
      status: 401,
      code: 'invalid_login',
    });
  });

  it('remembers no address for a login with the old password that a password change overtook', async () => {
    const made = await call(app, 'POST', '/api/v1/users', admin, {
      email: 'erin@test.example',
      username: 'erin',
      password: TEST_PASSWORD,
      role: 'staff',
    });
    const id = made.json<{ id: string }>().id;
    const users = app.get<Repository<User>>(getRepositoryToken(User));
    // A thief logs in with Erin's old password; the login has read her row...
    const gate = gateOn(users, (where) => where.username === 'erin');
    const thief = call(
      app,
      'POST',
      '/api/v1/auth/login',
      undefined,
      { username: 'erin', password: TEST_PASSWORD },
      { remoteAddress: '192.0.2.66' },
    );
    await gate.hasRead;
    // ...when her administrator changes the password.
    const changed = await call(app, 'PATCH', `/api/v1/users/${id}`, admin, {
      password: `${TEST_PASSWORD}-changed`,
    });
    expect(changed.statusCode).toBe(200);
    gate.release();
    const res = await thief;
    gate.restore();
    // README: the addresses are "forgotten when the password changes": an address that logged in
    // with the old password gets no budget of its own to guess the new one.
    const rows = await app
      .get(DataSource)
      .query<{ address: string }[]>('SELECT address FROM user_login_addresses WHERE user_id = $1', [
        decodeId(id),
      ]);
    expect({ status: res.statusCode, rows }).toEqual({ status: 401, rows: [] });
  });

  it('answers 401, not 500, to GET /auth/me of a user deleted while the request is under way', async () => {
    const made = await call(app, 'POST', '/api/v1/users', admin, {
      email: 'gone@test.example',
      username: 'gone',
      password: TEST_PASSWORD,
      role: 'staff',
    });
    const id = made.json<{ id: string }>().id;
    const token = await login(app, { email: 'gone@test.example' }, TEST_PASSWORD);
    const users = app.get<Repository<User>>(getRepositoryToken(User));
    // The request authenticates the user (reads the row)...
    const gate = gateOn(users, (where) => where.id === decodeId(id));
    const asking = call(app, 'GET', '/api/v1/auth/me', { bearer: token });
    await gate.hasRead;
    // ...and the user is deleted before the handler reads them again.
    expect((await call(app, 'DELETE', `/api/v1/users/${id}`, admin)).statusCode).toBe(204);
    gate.release();
    const res = await asking;
    gate.restore();
    // README: "a deleted user's tokens stop working at once": as the next request with it is.
    const next = await call(app, 'GET', '/api/v1/auth/me', { bearer: token });
    const answer = (r: typeof res) => ({
      status: r.statusCode,
      code: r.json<{ code: string }>().code,
      challenge: r.headers['www-authenticate'],
    });
    expect(answer(res)).toEqual(answer(next));
    expect(answer(res)).toMatchObject({ status: 401, code: 'invalid_token' });
  });

  it('never leaves the organisation without an enabled admin', async () => {
    const meA = (await call(app, 'GET', '/api/v1/auth/me', admin)).json<{ user: { id: string } }>();
    const fullKey = (
      await call(app, 'POST', '/api/v1/api-keys', admin, { name: 'offboarding', role: 'admin' })
    ).json<{ key: string }>().key;
    const auto: Credential = { apiKey: fullKey };
    const made = await call(app, 'POST', '/api/v1/users', admin, {
      email: 'una@test.example',
      username: 'una',
      password: TEST_PASSWORD,
      role: 'staff',
    });
    expect(made.statusCode).toBe(201);
    const una = made.json<{ id: string }>().id;
    const users = app.get<Repository<User>>(getRepositoryToken(User));
    // A script disables Una, a staff member as its request reads her.
    const gate = gateOn(users, (where) => where.id === decodeId(una));
    const disabling = call(app, 'PATCH', `/api/v1/users/${una}`, auto, { disabled: true });
    await gate.hasRead;
    // Meanwhile Una becomes an admin, and the first admin steps down in her favour.
    expect(
      (await call(app, 'PATCH', `/api/v1/users/${una}`, admin, { role: 'admin' })).statusCode,
    ).toBe(200);
    expect(
      (await call(app, 'PATCH', `/api/v1/users/${meA.user.id}`, auto, { role: 'staff' }))
        .statusCode,
    ).toBe(200);
    gate.release();
    const res = await disabling;
    gate.restore();
    const listed = await call(app, 'GET', '/api/v1/users?per_page=100', auto);
    const enabledAdmins = listed
      .json<{ items: { username: string; role: string; disabled: boolean }[] }>()
      .items.filter((u) => u.role === 'admin' && !u.disabled);
    // README: demoting, disabling or deleting the last enabled admin is 409 last_admin.
    expect({ status: res.statusCode, enabledAdmins: enabledAdmins.length }).toEqual({
      status: 409,
      enabledAdmins: 1,
    });
  });

  it("gives no password to an admin's account to a key that holds only a user's scopes", async () => {
    const limited = (
      await call(app, 'POST', '/api/v1/api-keys', admin, {
        name: 'helpdesk',
        role: 'admin',
        scopes: ['users:manage', 'products:read', 'images:read'],
      })
    ).json<{ key: string }>().key;
    const made = await call(app, 'POST', '/api/v1/users', admin, {
      email: 'vic@test.example',
      username: 'vic',
      password: TEST_PASSWORD,
      role: 'user',
    });
    const vic = made.json<{ id: string }>().id;
    const users = app.get<Repository<User>>(getRepositoryToken(User));
    // The helpdesk key sets Vic's password, reading Vic as a plain user...
    const gate = gateOn(users, (where) => where.id === decodeId(vic));
    const setting = call(
      app,
      'PATCH',
      `/api/v1/users/${vic}`,
      { apiKey: limited },
      {
        password: 'helpdesk chose this one',
      },
    );
    await gate.hasRead;
    // ...while an admin makes Vic an admin.
    expect(
      (await call(app, 'PATCH', `/api/v1/users/${vic}`, admin, { role: 'admin' })).statusCode,
    ).toBe(200);
    gate.release();
    const res = await setting;
    gate.restore();
    // README: a password set for a user is refused unless the caller holds every scope of that
    // user's role (here admin: the key lacks products:write, images:write, api_keys:manage).
    // Without the race the same request is refused, as the rule says:
    const direct = await call(
      app,
      'PATCH',
      `/api/v1/users/${vic}`,
      { apiKey: limited },
      {
        password: 'helpdesk tries again',
      },
    );
    expect(direct.json()).toMatchObject({ status: 403, code: 'insufficient_scope' });
    const loggedIn = await call(app, 'POST', '/api/v1/auth/login', undefined, {
      username: 'vic',
      password: 'helpdesk chose this one',
    });
    expect({ patch: res.statusCode, login: loggedIn.statusCode }).toEqual({
      patch: 403,
      login: 401,
    });
  });
});

describe('Keys made by keys that expire', () => {
  let t: TestApp;
  afterAll(() => t?.close());

  it('makes no key that outlives the key that makes it', async () => {
    t = await startTestApp({ LOGIN_RATE_LIMIT: '1000' });
    const admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    // A contractor's key for key rotation, good for one day.
    const tomorrow = new Date(Date.now() + 86_400_000);
    const contractor = await call(t.app, 'POST', '/api/v1/api-keys', admin, {
      name: 'contractor',
      role: 'admin',
      scopes: ['api_keys:manage', 'products:read', 'images:read'],
      expires_at: tomorrow.toISOString(),
    });
    expect(contractor.statusCode).toBe(201);
    const byContractor = { apiKey: contractor.json<{ key: string }>().key };
    const make = (body: object) => call(t.app, 'POST', '/api/v1/api-keys', byContractor, body);
    // No expiry asked for: the maker's.
    const minted = await make({ name: 'successor', role: 'user' });
    expect(minted.statusCode).toBe(201);
    expect(Date.parse(minted.json<{ expires_at: string }>().expires_at)).toBe(tomorrow.getTime());
    // Later than the maker's: refused, saying until when.
    const later = await make({
      name: 'forever',
      role: 'user',
      expires_at: new Date(tomorrow.getTime() + 1000).toISOString(),
    });
    expect(later.statusCode).toBe(400);
    expect(later.json()).toMatchObject({
      code: 'validation_failed',
      errors: [{ field: 'expires_at' }],
    });
    // Sooner: as asked.
    const sooner = new Date(Date.now() + 3_600_000).toISOString();
    const short = await make({ name: 'short', role: 'user', expires_at: sooner });
    expect(short.statusCode).toBe(201);
    expect(short.json()).toMatchObject({ expires_at: sooner });
    // A logged-in admin's key still expires only when asked.
    const forever = await call(t.app, 'POST', '/api/v1/api-keys', admin, { name: 'ci' });
    expect(forever.json()).toMatchObject({ expires_at: null });
  });
});
