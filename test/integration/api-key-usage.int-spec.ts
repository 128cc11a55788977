import type { DataSource } from 'typeorm';
import { ApiKeyUsageRepository } from '../../src/auth/api-key-usage.repository';
import { AuthModule } from '../../src/auth/auth.module';
import { newApiKey, newOrganization } from '../support/factories';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

/** A key's last_used_at, written in the background after the request that used it. */
describe.each(AVAILABLE_BACKENDS)(`${ApiKeyUsageRepository.name} on %s`, (backend) => {
  let m: IntegrationModule;
  let db: DataSource;
  let usage: ApiKeyUsageRepository;
  let organizationId: string;

  beforeAll(async () => {
    m = await startIntegrationModule(backend, { imports: [AuthModule] });
    db = m.dataSource;
    usage = m.get(ApiKeyUsageRepository);
    organizationId = (await newOrganization(db)).id;
  });
  afterAll(() => m?.close());

  const times = async (id: string) =>
    (
      await db.query<{ last_used_at: Date | null; revoked_at: Date | null }[]>(
        'SELECT last_used_at, revoked_at FROM api_keys WHERE id = $1',
        [id],
      )
    )[0];

  it('records when the key was used, not when the write came: never after its revocation', async () => {
    const { apiKey } = await newApiKey(db, { organizationId });
    // By the database's clock (the test runner's may differ), two seconds ago.
    const [{ usedAt }] = await db.query<{ usedAt: Date }[]>(
      `SELECT date_trunc('milliseconds', now() - interval '2 seconds') AS "usedAt"`,
    );
    // The request was let through; its write is late (a busy pool), after the key was revoked.
    await db.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [apiKey.id]);
    expect(await usage.touch(apiKey.id, 60_000, usedAt)).toBe(0);
    const row = await times(apiKey.id);
    expect(row.last_used_at?.getTime()).toBe(usedAt.getTime());
    expect(row.last_used_at!.getTime()).toBeLessThan(row.revoked_at!.getTime());
  });

  it('writes once a resolution, and says how long ago the recorded use was', async () => {
    const { apiKey } = await newApiKey(db, { organizationId });
    expect(await usage.touch(apiKey.id, 60_000, new Date())).toBe(0);
    const again = await usage.touch(apiKey.id, 60_000, new Date());
    expect(again).toBeGreaterThanOrEqual(0);
    expect(again).toBeLessThan(60_000);
    expect(await usage.touch('00000000-0000-4000-8000-000000000000', 60_000, new Date())).toBe(
      undefined,
    );
  });

  it('never records a use in the future of the database clock', async () => {
    const { apiKey } = await newApiKey(db, { organizationId });
    const ahead = new Date(Date.now() + 3_600_000);
    await usage.touch(apiKey.id, 60_000, ahead);
    const [{ late }] = await db.query<{ late: boolean }[]>(
      'SELECT last_used_at > now() AS late FROM api_keys WHERE id = $1',
      [apiKey.id],
    );
    expect(late).toBe(false);
  });
});
