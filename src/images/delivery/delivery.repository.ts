import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** What delivery needs of an image's row: where its original is and what it is. */
export interface DeliverableImage {
  id: string;
  storageKey: string;
  width: number;
  height: number;
  /** jpeg, png, gif, webp, avif or svg. */
  format: string;
  hasAlpha: boolean;
}

/** A held cross-process lock on one result; release it once the result is stored (or not). */
export interface ResultLock {
  release(): Promise<void>;
}

/**
 * The SQL of on-request delivery: an image's original by id, and the advisory lock that lets one
 * process in a fleet make a given result while the others wait for it.
 */
@Injectable()
export class DeliveryRepository {
  /**
   * Only a server is shared between processes. The embedded database serves one process, whose
   * own single-flight suffices, and holding its one session while an image is made would stall
   * every other query.
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
        width: number;
        height: number;
        format: string;
        has_alpha: boolean;
      }[]
    >(
      `SELECT id, storage_key, width, height, format, has_alpha FROM images
        WHERE id = $1 AND (expires_at IS NULL OR expires_at > now())`,
      [id],
    );
    if (!row) return null;
    return {
      id: row.id,
      storageKey: row.storage_key,
      width: row.width,
      height: row.height,
      format: row.format,
      hasAlpha: row.has_alpha,
    };
  }

  /**
   * A session-level advisory lock on the result's key, taken without waiting: undefined when
   * another session holds it (the caller waits for the result instead, holding no connection).
   * The lock dies with its session, so a process killed while making a result frees it.
   */
  async tryLock(resultKey: string): Promise<ResultLock | undefined> {
    if (!this.shared) return { release: () => Promise.resolve() };
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    const lockKey = `transform-result:${resultKey}`;
    try {
      const [{ locked }] = (await runner.query(
        'SELECT pg_try_advisory_lock(hashtext($1)) AS locked',
        [lockKey],
      )) as { locked: boolean }[];
      if (!locked) {
        await runner.release();
        return undefined;
      }
    } catch (error) {
      await runner.release();
      throw error;
    }
    return {
      release: async () => {
        try {
          await runner.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey]);
        } finally {
          await runner.release();
        }
      },
    };
  }
}
