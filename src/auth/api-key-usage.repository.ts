import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/**
 * Writes last_used_at only when the stored one is older than the resolution, whichever instance
 * of the service wrote it: the condition is the database's, so the instances share the throttle.
 * Either way, the age of the time it leaves (0 when written here: the caller knows it, its use's
 * time), by the database's clock. The
 * time written is the use's ($3), not the write's: a write that comes late (a busy pool) must not
 * show a key revoked meanwhile as used after its revocation. Never ahead of the database's clock,
 * never before the use recorded already.
 */
const TOUCH_SQL = `
  WITH touched AS (
    UPDATE api_keys SET last_used_at = GREATEST(last_used_at, LEAST(now(), $3::timestamptz))
     WHERE id = $1
       AND (last_used_at IS NULL
            OR last_used_at <= now() - $2::double precision * interval '1 millisecond')
    RETURNING id)
  SELECT CASE WHEN EXISTS (SELECT 1 FROM touched) THEN 0
              ELSE (extract(epoch FROM now() - k.last_used_at) * 1000)::double precision
         END AS "ageMs"
    FROM api_keys k WHERE k.id = $1`;

/** When API keys were last used (issue 18: at most once a resolution per key, across instances). */
@Injectable()
export class ApiKeyUsageRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Records a use of the key at `usedAt`, unless one was recorded less than `resolutionMs` ago;
   * how long ago the recorded use is, in milliseconds (0 when recorded now; undefined for no
   * such key).
   */
  async touch(apiKeyId: string, resolutionMs: number, usedAt: Date): Promise<number | undefined> {
    const [row] = await this.dataSource.query<{ ageMs: number }[]>(TOUCH_SQL, [
      apiKeyId,
      resolutionMs,
      usedAt,
    ]);
    return row?.ageMs;
  }
}
