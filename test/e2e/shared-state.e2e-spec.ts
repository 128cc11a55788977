import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Response as InjectResponse } from 'light-my-request';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { call, login } from '../support/http';
import { recordOpenApiResponses } from '../support/openapi-recorder';
import {
  cuttableRedis,
  deleteRedisKeys,
  redisKeys,
  stallableRedis,
  TEST_REDIS_URL,
  testRedisKeyPrefix,
  type CuttableRedis,
  type StallableRedis,
} from '../support/redis';
import { eventually } from '../support/eventually';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';

const JWT_SECRET = 'shared-state-test-secret-of-at-least-32-characters';
const LIMIT = 3;
const onServer = process.env.TEST_DATABASE_URL ? describe : describe.skip;

/**
 * Several instances of the service on one PostgreSQL database: each started as startTestApp()
 * starts one, here all on the same database, as a deployment runs them.
 */
class Instances {
  private readonly apps = new Set<NestFastifyApplication>();

  private constructor(
    readonly db: TestDatabase,
    private readonly env: Record<string, string>,
  ) {}

  static async on(env: Record<string, string> = {}): Promise<Instances> {
    return new Instances(await createTestDatabase('postgres'), env);
  }

  async start(): Promise<NestFastifyApplication> {
    const app = await createApp({
      env: {
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        ADMIN_EMAIL: TEST_ADMIN.email,
        ADMIN_PASSWORD: TEST_ADMIN.password,
        JWT_SECRET,
        ...this.db.env,
        ...this.env,
      },
    });
    recordOpenApiResponses(app);
    this.apps.add(app);
    return app;
  }

  async stop(app: NestFastifyApplication): Promise<void> {
    this.apps.delete(app);
    await app.close();
  }

  async close(): Promise<void> {
    for (const app of this.apps) await this.stop(app);
    await this.db.drop();
  }
}

function expectLimited(res: InjectResponse): void {
  expect(res.statusCode).toBe(429);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ code: 'login_rate_limited', status: 429 });
  expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
}

const redisPrefix = testRedisKeyPrefix();

onServer.each([
  { store: 'PostgreSQL', env: {} },
  { store: 'Redis', env: { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: redisPrefix } },
] as { store: string; env: Record<string, string> }[])(
  'The login limits of two instances, shared through $store',
  ({ store, env }) => {
    let instances: Instances;
    let a: NestFastifyApplication;
    let b: NestFastifyApplication;

    beforeAll(async () => {
      instances = await Instances.on({
        LOGIN_RATE_LIMIT: String(LIMIT),
        LOGIN_RATE_WINDOW_SECONDS: '60',
        ...env,
      });
      [a, b] = [await instances.start(), await instances.start()];
    });
    afterAll(async () => {
      await instances?.close();
      if (env.REDIS_KEY_PREFIX) await deleteRedisKeys(env.REDIS_KEY_PREFIX);
    });

    const attempt = (
      app: NestFastifyApplication,
      email: string,
      remoteAddress: string,
      password = 'wrong password',
    ) => call(app, 'POST', '/api/v1/auth/login', undefined, { email, password }, { remoteAddress });

    it('counts attempts at one account on either instance against one budget', async () => {
      // Each from an address of its own: only the per-account limit applies.
      expect((await attempt(a, TEST_ADMIN.email, '198.51.100.1')).statusCode).toBe(401);
      expect((await attempt(b, TEST_ADMIN.email, '198.51.100.2')).statusCode).toBe(401);
      expect((await attempt(a, TEST_ADMIN.email, '198.51.100.3')).statusCode).toBe(401);
      expectLimited(await attempt(b, TEST_ADMIN.email, '198.51.100.4'));
      // Held on both, the right password too.
      expectLimited(await attempt(a, TEST_ADMIN.email, '198.51.100.5', TEST_ADMIN.password));
      expectLimited(await attempt(b, TEST_ADMIN.email, '198.51.100.6', TEST_ADMIN.password));
    });

    it('counts attempts from one address on either instance against one budget', async () => {
      const address = '203.0.113.7';
      expect((await attempt(b, 'one@test.example', address)).statusCode).toBe(401);
      expect((await attempt(a, 'two@test.example', address)).statusCode).toBe(401);
      expect((await attempt(b, 'three@test.example', address)).statusCode).toBe(401);
      expectLimited(await attempt(a, 'four@test.example', address));
      expectLimited(await attempt(b, 'five@test.example', address));
      // Another address, another account: unaffected.
      expect((await attempt(a, 'six@test.example', '192.0.2.8')).statusCode).toBe(401);
    });

    it(`keeps the counts in ${store} only`, async () => {
      const rows = await a
        .get(DataSource)
        .query<{ n: number }[]>('SELECT count(*)::int AS n FROM rate_limits');
      if (env.REDIS_KEY_PREFIX) {
        expect(rows).toEqual([{ n: 0 }]);
        expect((await redisKeys(env.REDIS_KEY_PREFIX)).length).toBeGreaterThan(0);
      } else {
        expect(rows[0].n).toBeGreaterThan(0);
      }
    });
  },
);

onServer("API keys' last_used_at with two instances", () => {
  let instances: Instances;
  let a: NestFastifyApplication;
  let admin: { apiKey: string };
  let key: { id: string; key: string };

  beforeAll(async () => {
    instances = await Instances.on({ LOGIN_RATE_LIMIT: '1000' });
    a = await instances.start();
    const bearer = await login(a, { email: TEST_ADMIN.email }, TEST_ADMIN.password);
    const create = (body: object) =>
      call(a, 'POST', '/api/v1/api-keys', { bearer }, body).then((r) => r.json());
    // The list is read with a key of its own: a JWT is verified by the last instance started
    // (passport's strategy is one per process), and instances stop here.
    admin = { apiKey: (await create({ name: 'reader', role: 'admin' })).key };
    key = await create({ name: 'shared' });
  });
  afterAll(() => instances?.close());

  /** last_used_at as the key list shows it. */
  async function lastUsed(): Promise<string | null> {
    const res = await call(a, 'GET', '/api/v1/api-keys?per_page=100', admin);
    const listed = res.json<{ items: { id: string; last_used_at: string | null }[] }>();
    return listed.items.find((k) => k.id === key.id)!.last_used_at;
  }

  /** One use of the key on an instance of its own, stopped right after. */
  async function useOnAnotherInstance(): Promise<void> {
    const app = await instances.start();
    expect((await call(app, 'GET', '/api/v1/auth/me', { apiKey: key.key })).statusCode).toBe(200);
    await instances.stop(app);
  }

  it('is written once a minute per key across instances, not once per instance', async () => {
    expect(await lastUsed()).toBeNull();
    // Written in the background, and before the instance stops.
    await useOnAnotherInstance();
    const first = await lastUsed();
    expect(first).not.toBeNull();

    // Another instance's use in the same minute writes nothing.
    await useOnAnotherInstance();
    expect(await lastUsed()).toBe(first);

    // A minute later (the stored time moved back), another instance's use writes it again.
    await a
      .get(DataSource)
      .query(`UPDATE api_keys SET last_used_at = last_used_at - interval '2 minutes'`);
    const older = await lastUsed();
    await useOnAnotherInstance();
    expect(Date.parse((await lastUsed())!)).toBeGreaterThan(Date.parse(older!));
  });
});

describe('Redis at start-up', () => {
  it('must answer: the service stops, naming REDIS_URL without echoing it', async () => {
    const start = startTestApp({ REDIS_URL: 'redis://:not-to-be-echoed@127.0.0.1:1' });
    await expect(start).rejects.toThrow(/^Redis \(REDIS_URL\) is not usable: /);
    await expect(start).rejects.not.toThrow(/not-to-be-echoed/);
  });

  it('must have the database the URL names: a number past its databases stops the service', async () => {
    const url = new URL(TEST_REDIS_URL);
    url.pathname = '/99999';
    const start = startTestApp({ REDIS_URL: url.toString() });
    await expect(start).rejects.toThrow(/^Redis \(REDIS_URL\) is not usable: .*DB index/);
  });
});

/** One login of the test admin, with the right password: counted against the limits. */
const loginAttempt = (t: TestApp) =>
  call(t.app, 'POST', '/api/v1/auth/login', undefined, {
    email: TEST_ADMIN.email,
    password: TEST_ADMIN.password,
  });

describe('Redis going away while the service runs', () => {
  let redis: CuttableRedis;
  let t: TestApp;
  const prefix = testRedisKeyPrefix();

  beforeAll(async () => {
    redis = await cuttableRedis();
    t = await startTestApp({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix });
  });
  afterAll(async () => {
    await t?.close();
    await redis?.close();
    await deleteRedisKeys(prefix);
  });

  const attempt = () => loginAttempt(t);

  it('refuses logins with 503 login_limits_unavailable until it is back, never unlimited', async () => {
    expect((await attempt()).statusCode).toBe(200);
    redis.cut();
    const refused = await attempt();
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.json()).toMatchObject({ code: 'login_limits_unavailable', status: 503 });
    expect(refused.headers['retry-after']).toBe('5');
    expect(refused.json().access_token).toBeUndefined();
    redis.restore();
    await eventually(
      async () => (await attempt()).statusCode === 200,
      'a login once Redis is back',
    );
  });
});

/**
 * A command that timed out is not withdrawn: ioredis keeps it, TCP delivers what was written, and
 * a Redis that stalled runs it when it moves again. Attempts refused with 503 ("none is let
 * through") were counted then, and the client that retried as the 503 said was locked out for the
 * window (429). An attempt that reaches Redis past its deadline now counts nothing.
 */
describe('Redis stalling while the service runs', () => {
  let redis: StallableRedis;
  let t: TestApp;
  const prefix = testRedisKeyPrefix();

  beforeAll(async () => {
    redis = await stallableRedis();
    t = await startTestApp({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: prefix,
      LOGIN_RATE_LIMIT: '3',
      LOGIN_RATE_WINDOW_SECONDS: '60',
    });
  });
  afterAll(async () => {
    await t?.close();
    await redis?.close();
    await deleteRedisKeys(prefix);
  });

  const attempt = () => loginAttempt(t);

  it('does not count, once Redis runs them, the attempts it refused with 503 meanwhile', async () => {
    expect((await attempt()).statusCode).toBe(200);
    redis.stall();
    const refused = await Promise.all([attempt(), attempt(), attempt()]);
    for (const res of refused) {
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ code: 'login_limits_unavailable' });
    }
    redis.resume();
    // The held attempts have run in Redis by the time a new one is answered (one connection, in
    // order): the client's retry is its second attempt of three, not its fifth.
    const retry = await attempt();
    expect(retry.json()).not.toMatchObject({ code: 'login_rate_limited' });
    expect(retry.statusCode).toBe(200);
    expect((await attempt()).statusCode).toBe(200);
    expect((await attempt()).statusCode).toBe(429);
  }, 30_000);
});
