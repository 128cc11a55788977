import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Socket } from 'node:net';
import { tcpProxy, type TcpProxy } from './tcp-proxy';

/** The Redis the tests use (the one on loopback unless TEST_REDIS_URL names another). */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A REDIS_KEY_PREFIX of one test's own, so that test files running at once, and runs sharing
 * one Redis, never count in each other's keys.
 */
export function testRedisKeyPrefix(): string {
  return `pis-test:${randomUUID()}:`;
}

async function withRedis<T>(work: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}

/** The keys under `prefix`, with the milliseconds each has left to live. */
export function redisKeys(prefix: string): Promise<{ key: string; ttlMs: number }[]> {
  return withRedis(async (redis) => {
    const keys = await redis.keys(`${prefix}*`);
    return Promise.all(keys.map(async (key) => ({ key, ttlMs: await redis.pttl(key) })));
  });
}

/** Deletes every key under `prefix`. */
export function deleteRedisKeys(prefix: string): Promise<void> {
  return withRedis(async (redis) => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  });
}

export interface CuttableRedis extends TcpProxy {
  /** Redis goes away: every connection reset, every new one reset as soon as it is made. */
  cut(): void;
  /** Redis is back (the same server, its keys and scripts kept). */
  restore(): void;
}

/** A loopback TCP proxy in front of the tests' Redis, whose connection a test can cut. */
export async function cuttableRedis(): Promise<CuttableRedis> {
  let down = false;
  const proxy = await tcpProxy(TEST_REDIS_URL, { refuse: () => down });
  return {
    ...proxy,
    cut: () => {
      down = true;
      proxy.resetAll();
    },
    restore: () => (down = false),
  };
}

export interface StallableRedis extends TcpProxy {
  /**
   * Redis stops answering, the connections kept: what the service sends meanwhile is held, as a
   * stalled network or a Redis busy with a slow command or a fork holds it.
   */
  stall(): void;
  /** What was held reaches Redis, in order, and runs there: TCP gives it up to no timeout. */
  resume(): void;
}

/** A loopback TCP proxy in front of the tests' Redis, whose traffic a test can stall. */
export async function stallableRedis(): Promise<StallableRedis> {
  let stalled = false;
  const held: { chunk: Buffer; upstream: Socket }[] = [];
  const proxy = await tcpProxy(TEST_REDIS_URL, {
    fromClient: (chunk, _client, upstream) => {
      if (stalled) held.push({ chunk, upstream });
      else upstream.write(chunk);
    },
  });
  return {
    ...proxy,
    stall: () => (stalled = true),
    resume: () => {
      stalled = false;
      for (const { chunk, upstream } of held.splice(0)) upstream.write(chunk);
    },
  };
}
