import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

/**
 * The key, the keys it made and theirs, to any depth, in one organisation (a key can only make
 * keys in its own), those not yet revoked locked, in the order of their ids; each key once
 * (UNION), so no cycle can loop. It walks through keys revoked already, so that what they made
 * since is revoked too. Locked in one order, whatever the walk's: two revocations of keys that
 * made each other, or a revocation and the deletion of a user whose keys it reaches (see
 * {@link ApiKeyRevocationsRepository.lockCreatedBy}), wait for each other instead of each
 * holding a row the other needs (a deadlock, and a 500 to one of them).
 */
const LOCK_SQL = `
  WITH RECURSIVE made AS (
    SELECT id FROM api_keys WHERE id = $1 AND organization_id = $2
    UNION
    SELECT k.id FROM api_keys k JOIN made ON k.created_by_key_id = made.id
     WHERE k.organization_id = $2)
  SELECT id FROM api_keys
   WHERE id IN (SELECT id FROM made) AND revoked_at IS NULL
   ORDER BY id FOR NO KEY UPDATE`;

/** The keys locked, revoked (a SELECT: TypeORM answers an UPDATE with its count beside its rows). */
const REVOKE_SQL = `
  WITH revoked AS (
    UPDATE api_keys SET revoked_at = now()
     WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL
    RETURNING prefix)
  SELECT prefix FROM revoked`;

/** API key revocations, and the check that keeps a key being revoked from making keys. */
@Injectable()
export class ApiKeyRevocationsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Revokes the key and every key made from it; the prefixes of the keys revoked now. In one
   * transaction, the walk repeated until it revokes nothing new: a key being made (see
   * {@link lockMaker}) holds its maker's row, so revoking the maker waits for it to be stored, and
   * the next walk, a later statement, sees it; once revoked, the maker makes no more. No lock is
   * taken on the key before the walk, which locks its keys together, in the order of their ids.
   */
  async revokeWithDescendants(organizationId: string, id: string): Promise<string[]> {
    return this.dataSource.transaction(async (manager) => {
      const prefixes: string[] = [];
      for (;;) {
        const locked = await manager.query<{ id: string }[]>(LOCK_SQL, [id, organizationId]);
        if (locked.length === 0) return prefixes;
        const ids = locked.map((row) => row.id);
        const rows = await manager.query<{ prefix: string }[]>(REVOKE_SQL, [ids]);
        prefixes.push(...rows.map((row) => row.prefix));
      }
    });
  }

  /**
   * In the caller's transaction, before it stores a key that the key `makerId` makes: locks the
   * maker's row (FOR SHARE, until the transaction ends, so that its revocation waits for the new
   * key and then revokes it too) and says whether the maker is still good (neither revoked nor
   * expired, as it is now, not as a cache or the request's first read saw it).
   */
  async lockMaker(manager: EntityManager, makerId: string): Promise<boolean> {
    const rows = await manager.query<unknown[]>(
      `SELECT 1 FROM api_keys WHERE id = $1 AND revoked_at IS NULL
          AND (expires_at IS NULL OR expires_at > now()) FOR SHARE`,
      [makerId],
    );
    return rows.length > 0;
  }

  /**
   * In the caller's transaction, before it deletes the user `userId`: locks the keys the user made,
   * in the order of their ids, as a revocation does, ahead of the deletion's own writes to them
   * (created_by set to null, in whatever order the database finds them).
   */
  async lockCreatedBy(manager: EntityManager, userId: string): Promise<void> {
    await manager.query(
      'SELECT id FROM api_keys WHERE created_by = $1 ORDER BY id FOR NO KEY UPDATE',
      [userId],
    );
  }
}
