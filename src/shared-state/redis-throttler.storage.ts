import { createHash } from 'node:crypto';
import {
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { Redis } from 'ioredis';
import { AppError } from '../common/errors/app.error';
import { safeError } from '../common/logging/safe-error';
import { assertBlocks, type RateLimitState } from './rate-limits.repository';

/**
 * One more attempt on one key, atomically (a script runs alone in Redis): the rules of
 * @nestjs/throttler's in-process storage, as in RateLimitsRepository. The state is one string,
 * `[[hit expiries…], window end, block end or 0]` in milliseconds of Redis's clock (TIME: the
 * instances' clocks play no part), which expires with the last time it holds. cjson writes 14
 * significant digits: milliseconds since 1970 have 13 until the year 2286.
 *
 * An attempt that reaches Redis after its deadline (ARGV[4], in Redis's clock; 0: none) counts
 * nothing and answers -1 hits: the service has answered it 503 by then. A command that timed out
 * is not withdrawn (ioredis keeps it queued, TCP keeps what was written), and a stalled Redis or
 * network ran it later: attempts refused as "none is let through" counted all the same, and the
 * client that retried as told found itself locked out for the window. Every answer ends with
 * Redis's time, from which the service keeps the difference between the clocks.
 */
const HIT_SCRIPT = `
local ttl, limit, block = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local deadline = tonumber(ARGV[4])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if deadline > 0 and now > deadline then return { -1, 0, 0, 0, now } end
local hits, window, blocked = {}, 0, 0
local saved = redis.call('GET', KEYS[1])
if saved then
  local state = cjson.decode(saved)
  for _, hit in ipairs(state[1]) do
    if hit > now then hits[#hits + 1] = hit end
  end
  window, blocked = state[2], state[3]
end
if window <= now then window = now + ttl end
if blocked > 0 and blocked <= now then
  blocked = 0
  hits = { now + ttl }
elseif blocked == 0 then
  hits[#hits + 1] = now + ttl
  if #hits > limit then blocked = now + block end
end
local last = math.max(window, blocked, hits[#hits] or 0)
redis.call('SET', KEYS[1], cjson.encode({ hits, window, blocked }), 'PX', math.max(1, last - now))
local blockLeft = 0
if blocked > 0 then blockLeft = math.ceil((blocked - now) / 1000) end
return { #hits, math.ceil((window - now) / 1000), blocked > 0 and 1 or 0, blockLeft, now }
`;
const HIT_SCRIPT_SHA = createHash('sha1').update(HIT_SCRIPT).digest('hex');

/** Seconds a login refused for want of Redis is asked to wait: one reconnection or so. */
const RETRY_AFTER_SECONDS = 5;

/** How long a command may take before the login is refused (ioredis's commandTimeout). */
const COMMAND_TIMEOUT_MS = 5_000;

/**
 * How long before the service gives up on an attempt its script stops counting it: the time its
 * answer may take to come back, and what the clocks' difference (measured from the answers) may
 * be off by.
 */
const DEADLINE_MARGIN_MS = 1_000;

/**
 * @nestjs/throttler's storage in Redis, when REDIS_URL is set: the login limits hold across every
 * instance of the service without a write to PostgreSQL per attempt. This is the one file that
 * imports the Redis client (ioredis).
 *
 * Ours rather than a package: the maintained Redis storages for @nestjs/throttler
 * (@nest-lab/throttler-storage-redis) declare peer dependencies up to NestJS 11, so installing one
 * here needs --legacy-peer-deps, and they count a fixed window, where the in-process storage
 * counts each attempt for a window after it (a sliding log): sharing the limits would have
 * changed when a client is let in again. One Lua script keeps the rules and the atomicity.
 *
 * Redis must answer at start-up (the service stops otherwise, like an unreachable database). If
 * it goes away later, logins are refused with 503 `login_limits_unavailable` and Retry-After
 * until it is back, rather than going unlimited.
 */
export class RedisThrottlerStorage
  implements ThrottlerStorage, OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new Logger('SharedState');
  private readonly client: Redis;
  private reportedOutage = false;
  /** Redis's clock less this process's, in ms, as of the last answer; undefined before one. */
  private clockOffset?: number;
  private connected?: Promise<void>;
  private closed?: Promise<void>;

  constructor(
    url: string,
    private readonly keyPrefix: string,
  ) {
    this.client = new Redis(url, {
      lazyConnect: true,
      connectTimeout: 5_000,
      commandTimeout: COMMAND_TIMEOUT_MS,
      // A login waits for one reconnection at most, then fails.
      maxRetriesPerRequest: 1,
    });
    this.client.on('error', (error) => {
      if (this.reportedOutage) return;
      this.reportedOutage = true;
      this.logger.error({ err: safeError(error) }, 'Redis (REDIS_URL) is unreachable');
    });
    this.client.on('ready', () => (this.reportedOutage = false));
  }

  /**
   * Connects, or fails naming REDIS_URL. Nest calls this once per provider the storage is, and it
   * is two (SharedStateModule's, and ThrottlerModule's `storage` option): connect once.
   */
  onModuleInit(): Promise<void> {
    this.connected ??= this.connect();
    return this.connected;
  }

  private async connect(): Promise<void> {
    try {
      await this.client.connect();
      // ioredis selects the URL's database as it connects, but a refusal (a number past the
      // server's `databases`) fails nothing: the keys would go to database 0.
      await this.client.select(this.client.options.db ?? 0);
      await this.client.script('LOAD', HIT_SCRIPT);
      const sent = Date.now();
      const [seconds, micros] = await this.client.time();
      const redisNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      this.clockOffset = redisNow - (sent + Date.now()) / 2;
    } catch (error) {
      this.client.disconnect();
      // The URL is never echoed: it may hold a password.
      throw new Error(`Redis (REDIS_URL) is not usable: ${safeError(error).message}`);
    }
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
  ): Promise<RateLimitState> {
    assertBlocks(blockDuration);
    const deadline =
      this.clockOffset === undefined
        ? 0
        : Date.now() + this.clockOffset + COMMAND_TIMEOUT_MS - DEADLINE_MARGIN_MS;
    const args = [`${this.keyPrefix}rate-limit:${key}`, ttl, limit, blockDuration, deadline];
    const reply = await this.hit(args).catch((error: unknown) => {
      // An outage is logged once, by the client's 'error' listener; anything else (a reply
      // error: out of memory, a read-only replica, a lost password) each time.
      if (!this.reportedOutage) {
        this.logger.warn({ err: safeError(error) }, 'Redis (REDIS_URL) did not count a login');
      }
      return undefined;
    });
    // Counted too late (see HIT_SCRIPT), or not at all: refused, and not counted.
    if (!reply || reply[0] < 0) {
      throw new AppError(
        'login_limits_unavailable',
        'Login attempts cannot be counted right now, so none is let through; retry shortly.',
        [],
        { 'Retry-After': String(RETRY_AFTER_SECONDS) },
      );
    }
    const [totalHits, timeToExpire, blocked, timeToBlockExpire] = reply;
    return { totalHits, timeToExpire, isBlocked: blocked === 1, timeToBlockExpire };
  }

  /**
   * The script's answer for one attempt: hits (-1: past its deadline, not counted), seconds to
   * the window's end, blocked, block left. Keeps the clocks' difference its time gives, from an
   * answer that came back quickly (its time lies between the request and the answer).
   */
  private async hit(args: (string | number)[]): Promise<[number, number, number, number, number]> {
    const sent = Date.now();
    const reply = (await this.client.evalsha(HIT_SCRIPT_SHA, 1, ...args).catch((error: Error) => {
      // A Redis restarted since start-up has forgotten the script.
      if (!error.message.startsWith('NOSCRIPT')) throw error;
      return this.client.eval(HIT_SCRIPT, 1, ...args);
    })) as [number, number, number, number, number];
    const received = Date.now();
    if (received - sent < DEADLINE_MARGIN_MS) this.clockOffset = reply[4] - (sent + received) / 2;
    return reply;
  }

  /** No outage to report while closing. */
  beforeApplicationShutdown(): void {
    this.reportedOutage = true;
  }

  /** Closes the connection, once (see onModuleInit). */
  onApplicationShutdown(): Promise<void> {
    this.closed ??=
      this.client.status === 'ready'
        ? this.client.quit().then(() => undefined)
        : Promise.resolve(this.client.disconnect());
    return this.closed;
  }
}
