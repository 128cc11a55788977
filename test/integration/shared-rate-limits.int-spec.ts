import { setTimeout as sleep } from 'node:timers/promises';
import { ThrottlerStorageService, type ThrottlerStorage } from '@nestjs/throttler';
import { PostgresThrottlerStorage } from '../../src/shared-state/postgres-throttler.storage';
import { RateLimitsRepository } from '../../src/shared-state/rate-limits.repository';
import { RedisThrottlerStorage } from '../../src/shared-state/redis-throttler.storage';
import {
  SHARED_THROTTLER_STORAGE,
  SharedStateModule,
} from '../../src/shared-state/shared-state.module';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { deleteRedisKeys, redisKeys, TEST_REDIS_URL, testRedisKeyPrefix } from '../support/redis';
import { AVAILABLE_BACKENDS } from '../support/test-database';

const MINUTE = 60_000;

/** What a client sees of one attempt: counted, and let in or not. */
const seen = (r: { totalHits: number; isBlocked: boolean }) => ({
  hits: r.totalHits,
  blocked: r.isBlocked,
});

/** `n` attempts on `key`, one after the other. */
async function attempts(
  storage: ThrottlerStorage,
  key: string,
  n: number,
  ttl: number,
  limit: number,
  block: number,
) {
  const results = [];
  for (let i = 0; i < n; i++) results.push(await storage.increment(key, ttl, limit, block, 'x'));
  return results;
}

const SHARED: {
  name: string;
  backend: 'postgres' | 'pglite' | 'default';
  env: { REDIS_URL?: string; REDIS_KEY_PREFIX?: string };
}[] = [
  ...AVAILABLE_BACKENDS.map((backend) => ({ name: `PostgreSQL (${backend})`, backend, env: {} })),
  {
    name: 'Redis',
    backend: 'default',
    env: { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: testRedisKeyPrefix() },
  },
];

/**
 * The shared storages against @nestjs/throttler's own in-process one: the same attempts get the
 * same answers, so sharing the login limits changes nothing a client sees.
 */
describe.each(SHARED)(`${SharedStateModule.name}'s login-limit storage in $name`, (shared) => {
  let m: IntegrationModule;
  let storage: ThrottlerStorage;
  let reference: ThrottlerStorageService;
  let n = 0;
  /** A key no other test uses. */
  const key = () => `key-${++n}`;

  beforeAll(async () => {
    m = await startIntegrationModule(shared.backend, {
      imports: [SharedStateModule],
      env: shared.env,
    });
    storage = m.get(SHARED_THROTTLER_STORAGE);
    reference = new ThrottlerStorageService();
  });
  afterAll(async () => {
    reference?.onApplicationShutdown();
    await m?.close();
    if (shared.env.REDIS_KEY_PREFIX) await deleteRedisKeys(shared.env.REDIS_KEY_PREFIX);
  });

  it('is the storage REDIS_URL selects', () => {
    const expected = shared.env.REDIS_URL ? RedisThrottlerStorage : PostgresThrottlerStorage;
    expect(storage).toBeInstanceOf(expected);
  });

  it('counts up to the limit, then blocks, as the in-process storage does', async () => {
    const ours = await attempts(storage, key(), 6, MINUTE, 3, MINUTE);
    const theirs = await attempts(reference, key(), 6, MINUTE, 3, MINUTE);
    expect(ours.map(seen)).toEqual(theirs.map(seen));
    expect(ours.map(seen)).toEqual([
      { hits: 1, blocked: false },
      { hits: 2, blocked: false },
      { hits: 3, blocked: false },
      { hits: 4, blocked: true },
      { hits: 4, blocked: true },
      { hits: 4, blocked: true },
    ]);
    for (const r of ours) {
      expect(r.timeToExpire).toBeGreaterThan(0);
      expect(r.timeToExpire).toBeLessThanOrEqual(60);
    }
    // Retry-After: within the block, which lasts a minute from the attempt past the limit.
    for (const r of ours.slice(3)) {
      expect(r.timeToBlockExpire).toBeGreaterThan(0);
      expect(r.timeToBlockExpire).toBeLessThanOrEqual(60);
    }
  });

  it('keeps keys apart', async () => {
    const [a, b] = [key(), key()];
    await attempts(storage, a, 3, MINUTE, 2, MINUTE);
    const [first] = await attempts(storage, b, 1, MINUTE, 2, MINUTE);
    expect(seen(first)).toEqual({ hits: 1, blocked: false });
  });

  it('starts the count again at one when a block is over, as the in-process storage does', async () => {
    const [ours, theirs] = [key(), key()];
    const before = [
      await attempts(storage, ours, 2, MINUTE, 1, 300),
      await attempts(reference, theirs, 2, MINUTE, 1, 300),
    ];
    await sleep(400);
    const after = [
      await attempts(storage, ours, 2, MINUTE, 1, 300),
      await attempts(reference, theirs, 2, MINUTE, 1, 300),
    ];
    expect(before[0].map(seen)).toEqual(before[1].map(seen));
    expect(after[0].map(seen)).toEqual(after[1].map(seen));
    expect([...before[0], ...after[0]].map(seen)).toEqual([
      { hits: 1, blocked: false },
      { hits: 2, blocked: true },
      { hits: 1, blocked: false },
      { hits: 2, blocked: true },
    ]);
  });

  it('counts attempts made at once one by one: exactly the limit gets in', async () => {
    const k = key();
    const results = await Promise.all(
      Array.from({ length: 25 }, () => storage.increment(k, MINUTE, 10, MINUTE, 'x')),
    );
    const admitted = results.filter((r) => !r.isBlocked).map((r) => r.totalHits);
    expect(admitted.sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(results.filter((r) => r.isBlocked).map((r) => r.totalHits)).toEqual(Array(15).fill(11));
  });

  it('refuses a throttler without a block duration (the login throttlers always have one)', async () => {
    await expect(storage.increment(key(), MINUTE, 1, 0, 'x')).rejects.toThrow(/block duration/);
  });

  const prefix = shared.env.REDIS_KEY_PREFIX;
  if (prefix) {
    it('keeps its keys under REDIS_KEY_PREFIX, each expiring once it no longer counts', async () => {
      await attempts(storage, key(), 1, MINUTE, 5, MINUTE);
      const keys = await redisKeys(prefix);
      expect(keys.length).toBeGreaterThan(0);
      for (const { key: k, ttlMs } of keys) {
        expect(k.startsWith(`${prefix}rate-limit:`)).toBe(true);
        expect(ttlMs).toBeGreaterThan(0);
        expect(ttlMs).toBeLessThanOrEqual(MINUTE);
      }
    });
  } else {
    it('deletes rows past their use as attempts come, and only those', async () => {
      await m.dataSource.query(
        `INSERT INTO rate_limits (key, hits, window_ends_at, expires_at)
         VALUES ('old', '{}', now() - interval '2 minutes', now() - interval '1 minute')`,
      );
      // A fresh storage sweeps at its first attempt.
      const fresh = new PostgresThrottlerStorage(m.get(RateLimitsRepository));
      const live = key();
      await fresh.increment(live, MINUTE, 5, MINUTE);
      const rows = await m.dataSource.query<{ key: string }[]>('SELECT key FROM rate_limits');
      const left = rows.map((r) => r.key);
      expect(left).not.toContain('old');
      expect(left).toContain(live);
    });
  }
});
