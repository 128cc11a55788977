import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** What delivery needs of an image's row: where its original is and what it is. */
export interface DeliverableImage {
  id: string;
  storageKey: string;
  /** The original's version, where the storage gave one (see Image.storageVersion). */
  storageVersion: number | null;
  width: number;
  height: number;
  /** jpeg, png, gif, webp, avif or svg. */
  format: string;
  hasAlpha: boolean;
  /** A stand-alone upload's expiry (past it, it is not delivered), or null: kept until deleted. */
  expiresAt: Date | null;
}

/** A held claim on making one result; release it once the result is stored (or not). */
export interface ResultLease {
  release(): Promise<void>;
}

/** How long a lease lives unless renewed: how long a killed maker keeps others waiting. */
export const LEASE_SECONDS = 30;

/**
 * The claim: a new row, or an expired one taken over (its maker was killed, or is stalled past
 * its lease). Of concurrent claims of a key only one gets a row back: the others wait for the
 * winner's row lock and then find a live lease, which the WHERE refuses. Leases a killed process
 * left an hour ago on results nobody asked for since are deleted on the way. Every statement ends
 * in a SELECT, so that both drivers (pg, PGlite) answer with its rows alone.
 */
const CLAIM_SQL = `
  WITH stale AS (
    DELETE FROM transform_result_leases
     WHERE expires_at < now() - interval '1 hour' AND result_key <> $1),
  claimed AS (
    INSERT INTO transform_result_leases AS l (result_key, holder_id, expires_at)
    VALUES ($1, $2, now() + $3::double precision * interval '1 second')
    ON CONFLICT (result_key) DO UPDATE SET
      holder_id = excluded.holder_id, expires_at = excluded.expires_at
    WHERE l.expires_at <= now()
    RETURNING 1)
  SELECT 1 FROM claimed`;

const RENEW_SQL = `
  WITH renewed AS (
    UPDATE transform_result_leases
       SET expires_at = now() + $3::double precision * interval '1 second'
     WHERE result_key = $1 AND holder_id = $2
    RETURNING 1)
  SELECT 1 FROM renewed`;

const RELEASE_SQL = `
  WITH released AS (
    DELETE FROM transform_result_leases WHERE result_key = $1 AND holder_id = $2 RETURNING 1)
  SELECT 1 FROM released`;

/**
 * The SQL of on-request delivery: an image's original by id, and the lease (a row of
 * `transform_result_leases`) that lets one process in a fleet make a given result while the others
 * wait for it. A lease holds no database connection while its result is made: a session-level
 * advisory lock did, so that a burst of distinct results (a new page of new sizes) held the whole
 * pool and stalled every other query of the process.
 */
@Injectable()
export class DeliveryRepository {
  /**
   * Only a server is shared between processes. The embedded database serves one process, whose
   * own single-flight suffices.
   */
  private readonly shared: boolean;

  constructor(private readonly dataSource: DataSource) {
    this.shared = Boolean((dataSource.options as { url?: string }).url);
  }

  /** The image, unless it is gone or a stand-alone image past its expiry. */
  async findDeliverable(id: string): Promise<DeliverableImage | null> {
    const [row] = await this.dataSource.query<
      {
        id: string;
        storage_key: string;
        storage_version: string | null;
        width: number;
        height: number;
        format: string;
        has_alpha: boolean;
        expires_at: Date | null;
      }[]
    >(
      `SELECT id, storage_key, storage_version, width, height, format, has_alpha, expires_at
         FROM images
        WHERE id = $1 AND (expires_at IS NULL OR expires_at > now())`,
      [id],
    );
    if (!row) return null;
    return {
      id: row.id,
      storageKey: row.storage_key,
      storageVersion: row.storage_version === null ? null : Number(row.storage_version),
      width: row.width,
      height: row.height,
      format: row.format,
      hasAlpha: row.has_alpha,
      expiresAt: row.expires_at === null ? null : new Date(row.expires_at),
    };
  }

  /**
   * The expiry of an image's row (a stand-alone upload's `expires_at`, null for none), or
   * undefined where no row has that id: deleted, swept, or never one.
   */
  async findExpiry(id: string): Promise<Date | null | undefined> {
    const [row] = await this.dataSource.query<{ expires_at: Date | null }[]>(
      'SELECT expires_at FROM images WHERE id = $1',
      [id],
    );
    if (!row) return undefined;
    return row.expires_at === null ? null : new Date(row.expires_at);
  }

  /**
   * A lease on making the result `resultKey`, for `ttlSeconds` and renewed every third of that
   * while held: undefined when another maker holds it (the caller waits for the result instead).
   */
  async tryLease(resultKey: string, ttlSeconds = LEASE_SECONDS): Promise<ResultLease | undefined> {
    if (!this.shared) return { release: () => Promise.resolve() };
    const holderId = randomUUID();
    const params = [resultKey, holderId, ttlSeconds];
    const claimed = await this.dataSource.query<unknown[]>(CLAIM_SQL, params);
    if (claimed.length === 0) return undefined;
    // A renewal that fails (the database away) is left to the next one: at worst the lease lapses
    // and another process makes the same result too, which costs only the work.
    const renewal = setInterval(
      () => {
        void this.dataSource.query(RENEW_SQL, params).catch(() => undefined);
      },
      (ttlSeconds * 1000) / 3,
    );
    renewal.unref();
    return {
      release: async () => {
        clearInterval(renewal);
        // Not thrown: the result is stored or not whatever this answers, and a lease left behind
        // lapses within ttlSeconds.
        await this.dataSource.query(RELEASE_SQL, [resultKey, holderId]).catch(() => undefined);
      },
    };
  }
}
