import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { Redis } from 'ioredis';

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

export interface CuttableRedis {
  /** TEST_REDIS_URL with the proxy's host and port. */
  url: string;
  /** Redis goes away: every connection reset, every new one closed as soon as it is made. */
  cut(): void;
  /** Redis is back (the same server, its keys and scripts kept). */
  restore(): void;
  close(): Promise<void>;
}

/** A loopback TCP proxy in front of the tests' Redis, whose connection a test can cut. */
export async function cuttableRedis(): Promise<CuttableRedis> {
  const target = new URL(TEST_REDIS_URL);
  const sockets = new Set<Socket>();
  let down = false;
  const server = createServer((client) => {
    if (down) return void client.resetAndDestroy();
    const upstream = connect(Number(target.port || 6379), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = new URL(TEST_REDIS_URL);
  url.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: url.toString(),
    cut: () => {
      down = true;
      for (const socket of sockets) socket.resetAndDestroy();
    },
    restore: () => (down = false),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
