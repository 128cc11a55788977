import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { ApiKeyRevocationsRepository } from '../../src/auth/api-key-revocations.repository';
import { AuthModule } from '../../src/auth/auth.module';
import { Role } from '../../src/auth/roles';
import { UsersService } from '../../src/auth/users.service';
import { contextFor, newApiKey, newOrganization, newUser } from '../support/factories';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

/**
 * Revocations that overlap: keys that made each other revoked at once, and a key revoked while
 * the user who made its keys is deleted (which writes those keys' rows too). Each is one
 * transaction over many rows of api_keys; two of them must not wait for each other.
 */
const describeServer = AVAILABLE_BACKENDS.includes('postgres') ? describe : describe.skip;

describeServer('API key revocations at the same time, on postgres', () => {
  let m: IntegrationModule;
  let db: DataSource;
  let revocations: ApiKeyRevocationsRepository;
  let users: UsersService;

  beforeAll(async () => {
    m = await startIntegrationModule('postgres', { imports: [AuthModule] });
    db = m.dataSource;
    revocations = m.get(ApiKeyRevocationsRepository);
    users = m.get(UsersService);
    // Enough keys (of another organisation) that the planner reads api_keys by its indexes, as it
    // does in production, rather than scanning a few pages.
    const { id: other } = await newOrganization(db);
    await db.query(
      `INSERT INTO api_keys (organization_id, name, role, prefix, secret_hash)
       SELECT $1, 'bulk-' || g, 'staff', substr(md5(random()::text), 1, 16), repeat('0', 64)
         FROM generate_series(1, 5000) g`,
      [other],
    );
    await db.query('ANALYZE api_keys');
  });
  afterAll(() => m?.close());

  /** `count` keys of the user, each made by the one before (the first by none). */
  async function chain(organizationId: string, count: number) {
    const user = await newUser(db, { organizationId, role: Role.Admin });
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const { apiKey } = await newApiKey(db, { organizationId, createdBy: user, role: Role.Admin });
      if (i > 0) {
        await db.query('UPDATE api_keys SET created_by_key_id = $1 WHERE id = $2', [
          ids[i - 1],
          apiKey.id,
        ]);
      }
      ids.push(apiKey.id);
    }
    return { user, ids };
  }

  /**
   * Runs `work` while another transaction holds key `id` (FOR SHARE, as a key being made by it
   * does), released after a moment: every statement of `work` reaching that row waits there,
   * holding the rows it has locked so far.
   */
  async function whileHeld<T>(
    id: string,
    work: () => Promise<T>[],
  ): Promise<PromiseSettledResult<T>[]> {
    const holder = new Client({ connectionString: m.db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM api_keys WHERE id = $1 FOR SHARE', [id]);
      const outcomes = Promise.allSettled(work());
      await new Promise((resolve) => setTimeout(resolve, 300));
      await holder.query('COMMIT');
      return await outcomes;
    } finally {
      await holder.end();
    }
  }

  const unrevoked = async (ids: string[]) =>
    (
      await db.query(
        'SELECT count(*)::int AS n FROM api_keys WHERE id = ANY($1) AND revoked_at IS NULL',
        [ids],
      )
    )[0].n as number;

  it('revokes keys that made each other, revoked at once, without a deadlock', async () => {
    for (let round = 0; round < 10; round++) {
      const { id: organizationId } = await newOrganization(db);
      const { ids } = await chain(organizationId, 12);
      const outcomes = await whileHeld(ids[6], () =>
        [...ids].reverse().map((id) => revocations.revokeWithDescendants(organizationId, id)),
      );
      expect({ round, failed: outcomes.filter((o) => o.status === 'rejected') }).toEqual({
        round,
        failed: [],
      });
      expect(await unrevoked(ids)).toBe(0);
      // Each key's prefix named once, by whichever revocation revoked it (the cache forgets it).
      const named = outcomes.flatMap((o) => (o.status === 'fulfilled' ? o.value : []));
      const prefixes = await db.query<{ prefix: string }[]>(
        'SELECT prefix FROM api_keys WHERE id = ANY($1)',
        [ids],
      );
      expect(named.sort()).toEqual(prefixes.map((row) => row.prefix).sort());
    }
  });

  it('revokes a key while the user who made its keys is deleted, without a deadlock', async () => {
    for (let round = 0; round < 10; round++) {
      const { id: organizationId } = await newOrganization(db);
      const ctx = contextFor({ organizationId, role: Role.Admin }, 'api_key');
      const { user, ids } = await chain(organizationId, 12);
      await newUser(db, { organizationId, role: Role.Admin });
      const outcomes = await whileHeld<unknown>(ids[6], () => [
        revocations.revokeWithDescendants(organizationId, ids[0]),
        users.remove(ctx, user.id),
      ]);
      expect({ round, failed: outcomes.filter((o) => o.status === 'rejected') }).toEqual({
        round,
        failed: [],
      });
      expect(await unrevoked(ids)).toBe(0);
    }
  });
});
