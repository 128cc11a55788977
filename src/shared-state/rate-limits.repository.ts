import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** What a limited thing's count is after one more attempt, as @nestjs/throttler reads it. */
export interface RateLimitState {
  /** Attempts counted in the window, this one included unless blocked. */
  totalHits: number;
  /** Seconds until the window ends. */
  timeToExpire: number;
  isBlocked: boolean;
  /** Seconds until the block ends; 0 when not blocked. */
  timeToBlockExpire: number;
}

/**
 * The shared storages implement the throttler's blocking mode only: the one the login throttlers
 * use (their block lasts a window, @nestjs/throttler's default when no block duration is given).
 */
export function assertBlocks(blockDuration: number): void {
  if (!(blockDuration > 0)) {
    throw new Error(`A shared rate limit needs a block duration above 0, not ${blockDuration}`);
  }
}

// $1 key, $2 window (ms), $3 limit, $4 block (ms). Times are the database's, shared by every instance.
const TTL = `($2::double precision * interval '1 millisecond')`;
const BLOCK = `($4::double precision * interval '1 millisecond')`;
const LIVE_HITS = `ARRAY(SELECT h FROM unnest(t.hits) AS h WHERE h > now())`;
const BLOCK_OVER = `(t.blocked_until IS NOT NULL AND t.blocked_until <= now())`;

/**
 * One more attempt, in one statement (the row is locked by the upsert, so concurrent attempts on
 * any instance are counted one after the other). The rules are those of @nestjs/throttler's
 * in-process storage, so that sharing the count changes nothing else: each attempt counts for
 * one window after it is made (a sliding log of at most limit + 1 times); the attempt past the
 * limit blocks the key for the block duration, during which attempts are refused and not counted;
 * the first attempt after a block starts the count again at one.
 */
const HIT_SQL = `
  INSERT INTO rate_limits AS t (key, hits, window_ends_at, blocked_until, expires_at)
  VALUES ($1, ARRAY[now() + ${TTL}], now() + ${TTL},
          CASE WHEN 1 > $3::int THEN now() + ${BLOCK} END, greatest(now() + ${TTL}, now() + ${BLOCK}))
  ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN ${BLOCK_OVER} THEN ARRAY[now() + ${TTL}]
                WHEN t.blocked_until IS NOT NULL THEN ${LIVE_HITS}
                ELSE ${LIVE_HITS} || (now() + ${TTL}) END,
    blocked_until = CASE WHEN ${BLOCK_OVER} THEN NULL
                         WHEN t.blocked_until IS NOT NULL THEN t.blocked_until
                         WHEN cardinality(${LIVE_HITS}) + 1 > $3::int THEN now() + ${BLOCK} END,
    window_ends_at = CASE WHEN t.window_ends_at > now() THEN t.window_ends_at ELSE now() + ${TTL} END,
    expires_at = greatest(t.expires_at, now() + ${TTL}, now() + ${BLOCK})
  RETURNING cardinality(t.hits) AS "totalHits",
            ceil(extract(epoch FROM t.window_ends_at - now()))::int AS "timeToExpire",
            t.blocked_until IS NOT NULL AS "isBlocked",
            coalesce(ceil(extract(epoch FROM t.blocked_until - now())), 0)::int AS "timeToBlockExpire"`;

/** Rows no attempt can need any more, a bounded batch, skipping rows an attempt holds. */
const SWEEP_SQL = `
  WITH gone AS (
    DELETE FROM rate_limits WHERE key IN (
      SELECT key FROM rate_limits WHERE expires_at < now()
       ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
    RETURNING 1)
  SELECT count(*)::int AS deleted FROM gone`;

/** Login limits in the service's own PostgreSQL (table `rate_limits`), shared by its instances. */
@Injectable()
export class RateLimitsRepository {
  constructor(private readonly dataSource: DataSource) {}

  async hit(key: string, ttlMs: number, limit: number, blockMs: number): Promise<RateLimitState> {
    const [state] = await this.dataSource.query<RateLimitState[]>(HIT_SQL, [
      key,
      ttlMs,
      limit,
      blockMs,
    ]);
    return state;
  }

  /** Deletes up to `batch` rows past their use; how many it deleted. */
  async sweep(batch: number): Promise<number> {
    const [{ deleted }] = await this.dataSource.query<{ deleted: number }[]>(SWEEP_SQL, [batch]);
    return deleted;
  }
}
