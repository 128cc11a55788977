import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource, Repository } from 'typeorm';
import { ApiKey } from '../../src/auth/entities/api-key.entity';
import { TEST_PASSWORD } from '../support/accounts';
import { call, login, type Credential } from '../support/http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

/**
 * The next save of an API key named `name` waits, once called, until `release()`: by then its
 * request has read (and, as it should, locked) what it reads before storing the key.
 */
function gateKeySave(name: string) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let reached!: () => void;
  const hasReached = new Promise<void>((resolve) => (reached = resolve));
  const original = Repository.prototype.save;
  const spy = jest.spyOn(Repository.prototype, 'save').mockImplementation(async function (
    this: Repository<object>,
    ...args: unknown[]
  ) {
    const [entity] = args as [{ name?: unknown }];
    if (this.target === ApiKey && entity?.name === name) {
      reached();
      await released;
    }
    return (original as (...a: unknown[]) => Promise<unknown>).apply(this, args);
  } as typeof Repository.prototype.save);
  return { hasReached, release, restore: () => spy.mockRestore() };
}

/**
 * A key being made while the user it names as its creator is deleted: the key is stored with no
 * creator (as README says of keys whose creator is deleted), the deletion goes through, and
 * neither is a 500 (the insert's foreign key to a user deleted meanwhile, or a deadlock).
 */
describe('An API key made while its creator is being deleted', () => {
  let t: TestApp;
  let app: NestFastifyApplication;
  let admin: Credential;

  beforeEach(async () => {
    t = await startTestApp({ LOGIN_RATE_LIMIT: '1000' });
    app = t.app;
    admin = { bearer: await login(app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
  });
  afterEach(() => t.close());

  /** Resolves once some connection of the test database waits for a lock. */
  async function someoneWaitsForALock(): Promise<void> {
    const database = app.get(DataSource);
    for (;;) {
      const [row] = await database.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      if (row.n > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function leaver(): Promise<{ id: string; credential: Credential }> {
    const res = await call(app, 'POST', '/api/v1/users', admin, {
      email: 'leaver@test.example',
      username: 'leaver',
      password: TEST_PASSWORD,
      role: 'admin',
    });
    expect(res.statusCode).toBe(201);
    const credential = { bearer: await login(app, { username: 'leaver' }, TEST_PASSWORD) };
    return { id: res.json<{ id: string }>().id, credential };
  }

  it.each([
    ['by the user, logged in', false],
    ['by a key the user made', true],
  ])('stores it without a creator, and deletes the user (made %s)', async (_, byKey) => {
    const user = await leaver();
    let maker = user.credential;
    if (byKey) {
      const made = await call(app, 'POST', '/api/v1/api-keys', user.credential, {
        name: 'integration',
        role: 'admin',
      });
      expect(made.statusCode).toBe(201);
      maker = { apiKey: made.json<{ key: string }>().key };
    }
    const gate = gateKeySave('racy');
    try {
      const making = call(app, 'POST', '/api/v1/api-keys', maker, { name: 'racy' });
      await gate.hasReached;
      // Meanwhile another admin deletes the user: it goes through at once, or waits for the key.
      const deleting = call(app, 'DELETE', `/api/v1/users/${user.id}`, admin);
      await Promise.race([deleting, someoneWaitsForALock()]);
      gate.release();
      const [made, deleted] = await Promise.all([making, deleting]);
      expect({ made: made.statusCode, deleted: deleted.statusCode }).toEqual({
        made: 201,
        deleted: 204,
      });
      const read = await call(
        app,
        'GET',
        `/api/v1/api-keys/${made.json<{ id: string }>().id}`,
        admin,
      );
      expect(read.json()).toMatchObject({ created_by: null, created_by_username: 'leaver' });
      const works = await call(app, 'GET', '/api/v1/auth/me', {
        apiKey: made.json<{ key: string }>().key,
      });
      expect(works.statusCode).toBe(200);
    } finally {
      gate.release();
      gate.restore();
    }
  });
});
