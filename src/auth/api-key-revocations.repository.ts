import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

/**
 * The key, the keys it made and theirs, to any depth, in one organisation (a key can only make
 * keys in its own), those not yet revoked revoked; each key once (UNION), so no cycle can loop.
 * It walks through keys revoked already, so that what they made since is revoked too.
 */
const REVOKE_SQL = `
  WITH RECURSIVE made AS (
    SELECT id FROM api_keys WHERE id = $1 AND organization_id = $2
    UNION
    SELECT k.id FROM api_keys k JOIN made ON k.created_by_key_id = made.id
     WHERE k.organization_id = $2),
  revoked AS (
    UPDATE api_keys SET revoked_at = now()
     WHERE id IN (SELECT id FROM made) AND revoked_at IS NULL
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
   * taken on the key before the walk, which locks its keys together, as a walk without one would.
   */
  async revokeWithDescendants(organizationId: string, id: string): Promise<string[]> {
    return this.dataSource.transaction(async (manager) => {
      const prefixes: string[] = [];
      for (;;) {
        const rows = await manager.query<{ prefix: string }[]>(REVOKE_SQL, [id, organizationId]);
        if (rows.length === 0) return prefixes;
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
}
