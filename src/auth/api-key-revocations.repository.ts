import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/**
 * The key, the keys it made and theirs, to any depth, in one organisation (a key can only make
 * keys in its own), revoked in one statement; each key once (UNION), so no cycle can loop.
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

/** API key revocations. */
@Injectable()
export class ApiKeyRevocationsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Revokes the key and every key made from it; the prefixes of the keys revoked now. */
  async revokeWithDescendants(organizationId: string, id: string): Promise<string[]> {
    const rows = await this.dataSource.query<{ prefix: string }[]>(REVOKE_SQL, [
      id,
      organizationId,
    ]);
    return rows.map((row) => row.prefix);
  }
}
