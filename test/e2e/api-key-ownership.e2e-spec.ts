import type { Response as InjectResponse } from 'light-my-request';
import { AccountsService } from '../../src/auth/accounts.service';
import { Role } from '../../src/auth/roles';
import { TEST_PASSWORD } from '../support/accounts';
import { call, login, type Credential } from '../support/http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

interface ListedKey {
  id: string;
  name: string;
  created_by: string | null;
  created_by_username: string | null;
  created_by_key: string | null;
  revoked_at: string | null;
}

/**
 * API keys belong to the organisation, not to the user who made them: they keep working when
 * that user is disabled or deleted, and keep naming who made them; the user's own tokens stop.
 */
describe('API keys outlive the user who made them', () => {
  let t: TestApp;
  let admin: Credential;

  beforeAll(async () => {
    t = await startTestApp();
    admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });
  afterAll(() => t.close());

  /** An administrator, logged in, with an API key of each role it made. */
  async function adminWithKeys(username: string) {
    const created = await call(t.app, 'POST', '/api/v1/users', admin, {
      email: `${username}@test.example`,
      username,
      password: TEST_PASSWORD,
      role: Role.Admin,
    });
    expect(created.statusCode).toBe(201);
    const id = created.json<{ id: string }>().id;
    const token: Credential = { bearer: await login(t.app, { username }, TEST_PASSWORD) };
    const key = async (role: Role) => {
      const res = await call(t.app, 'POST', '/api/v1/api-keys', token, {
        name: `${username}'s ${role} integration`,
        role,
      });
      expect(res.statusCode).toBe(201);
      expect(res.json<ListedKey>()).toMatchObject({
        created_by: id,
        created_by_username: username,
      });
      return {
        id: res.json<{ id: string }>().id,
        credential: { apiKey: res.json().key as string },
      };
    };
    return { id, token, adminKey: await key(Role.Admin), staffKey: await key(Role.Staff) };
  }

  async function listed(keyId: string): Promise<ListedKey> {
    const res = await call(t.app, 'GET', '/api/v1/api-keys?per_page=100', admin);
    expect(res.statusCode).toBe(200);
    const key = res.json<{ items: ListedKey[] }>().items.find((k) => k.id === keyId);
    if (!key) throw new Error(`key ${keyId} not listed`);
    return key;
  }

  function expectUnauthenticated(res: InjectResponse, code: string): void {
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['www-authenticate']).toBeTruthy();
    expect(res.headers['x-request-id']).toBeTruthy();
    expect(res.json()).toMatchObject({ code, status: 401 });
  }

  /** The key works: it reads, writes, and is itself (not its creator) on /auth/me. */
  async function expectWorking(key: { id: string; credential: Credential }): Promise<void> {
    const me = await call(t.app, 'GET', '/api/v1/auth/me', key.credential);
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ type: 'api_key', api_key: { id: key.id } });
    expect((await call(t.app, 'GET', '/api/v1/products', key.credential)).statusCode).toBe(200);
    const product = await call(t.app, 'POST', '/api/v1/products', key.credential, { name: 'Kept' });
    expect(product.statusCode).toBe(201);
  }

  it("keeps a disabled user's keys working, while that user's tokens and login stop", async () => {
    const dana = await adminWithKeys('dana');
    const disabled = await call(t.app, 'PATCH', `/api/v1/users/${dana.id}`, admin, {
      disabled: true,
    });
    expect(disabled.statusCode).toBe(200);

    expectUnauthenticated(await call(t.app, 'GET', '/api/v1/auth/me', dana.token), 'invalid_token');
    const relogin = await call(t.app, 'POST', '/api/v1/auth/login', undefined, {
      username: 'dana',
      password: TEST_PASSWORD,
    });
    expect(relogin.statusCode).toBe(401);

    await expectWorking(dana.staffKey);
    await expectWorking(dana.adminKey);
    expect(await listed(dana.staffKey.id)).toMatchObject({
      created_by: dana.id,
      created_by_username: 'dana',
      revoked_at: null,
    });
  });

  it("keeps a deleted user's keys working, still naming who made them", async () => {
    const erin = await adminWithKeys('erin');
    expect((await call(t.app, 'DELETE', `/api/v1/users/${erin.id}`, admin)).statusCode).toBe(204);

    expectUnauthenticated(await call(t.app, 'GET', '/api/v1/auth/me', erin.token), 'invalid_token');
    await expectWorking(erin.staffKey);
    await expectWorking(erin.adminKey);
    // The user is gone, so is the link; the record of who made the key stays.
    expect(await listed(erin.staffKey.id)).toMatchObject({
      created_by: null,
      created_by_username: 'erin',
    });

    // What ends a key is its revocation, at once.
    const revoked = await call(t.app, 'DELETE', `/api/v1/api-keys/${erin.staffKey.id}`, admin);
    expect(revoked.statusCode).toBe(204);
    expectUnauthenticated(
      await call(t.app, 'GET', '/api/v1/products', erin.staffKey.credential),
      'invalid_api_key',
    );
    await expectWorking(erin.adminKey);
  });

  it('lets an admin key disable and delete the user who made it, and keeps working', async () => {
    // Offboarding run by an integration: the key is not its creator, so this is not "self".
    const frank = await adminWithKeys('frank');
    const key = frank.adminKey.credential;
    const disabled = await call(t.app, 'PATCH', `/api/v1/users/${frank.id}`, key, {
      disabled: true,
    });
    expect(disabled.statusCode).toBe(200);
    expect(disabled.json()).toMatchObject({ disabled: true });
    expectUnauthenticated(
      await call(t.app, 'GET', '/api/v1/auth/me', frank.token),
      'invalid_token',
    );
    expect((await call(t.app, 'DELETE', `/api/v1/users/${frank.id}`, key)).statusCode).toBe(204);
    await expectWorking(frank.adminKey);

    // A user still cannot lock themselves out.
    const grace = await adminWithKeys('grace');
    const self = await call(t.app, 'PATCH', `/api/v1/users/${grace.id}`, grace.token, {
      disabled: true,
    });
    expect(self.statusCode).toBe(409);
    expect(self.json()).toMatchObject({ code: 'cannot_modify_self' });
  });

  it('revokes with a key every key it made, and theirs, and nothing else', async () => {
    const { adminKey, staffKey } = await adminWithKeys('keymaker');
    /** A key made by `maker`, with its credential. */
    const madeBy = async (maker: { credential: Credential }, name: string) => {
      const res = await call(t.app, 'POST', '/api/v1/api-keys', maker.credential, {
        name,
        role: Role.Admin,
      });
      expect(res.statusCode).toBe(201);
      return {
        id: res.json<{ id: string }>().id,
        credential: { apiKey: res.json().key as string },
      };
    };
    const child = await madeBy(adminKey, 'made by a key');
    const grandchild = await madeBy(child, 'made by a key made by a key');
    // Who made each: the key, and still the person behind it.
    expect(await listed(child.id)).toMatchObject({
      created_by_key: adminKey.id,
      created_by_username: 'keymaker',
    });
    expect(await listed(grandchild.id)).toMatchObject({ created_by_key: child.id });
    expect(await listed(staffKey.id)).toMatchObject({ created_by_key: null });

    const revoked = await call(t.app, 'DELETE', `/api/v1/api-keys/${adminKey.id}`, admin);
    expect(revoked.statusCode).toBe(204);
    for (const key of [adminKey, child, grandchild]) {
      expectUnauthenticated(
        await call(t.app, 'GET', '/api/v1/products', key.credential),
        'invalid_api_key',
      );
      expect((await listed(key.id)).revoked_at).not.toBeNull();
    }
    // A key its maker made beside it, by hand, stays.
    await expectWorking(staffKey);
  });

  it('records no creator for a key made with the CLI', async () => {
    const accounts = t.app.get(AccountsService);
    const org = await accounts.findOrCreateOrganization('default');
    await accounts.createApiKey(org.id, { name: 'cli key' });
    const res = await call(t.app, 'GET', '/api/v1/api-keys?per_page=100', admin);
    const cli = res.json<{ items: ListedKey[] }>().items.find((k) => k.name === 'cli key');
    expect(cli).toMatchObject({ created_by: null, created_by_username: null });
  });
});
