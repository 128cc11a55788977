import type { DataSource } from 'typeorm';
import { isDatabaseConnectionLost } from '../../src/database/pg-errors';
import { dataSourceExecutor } from '../../src/jobs/pg-boss.engine';
import {
  proxiedDataSource,
  type ProxiedDataSource,
  type TerminatingProxy,
} from '../support/db-faults';
import { eventually } from '../support/eventually';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

const describeServer = AVAILABLE_BACKENDS.includes('postgres') ? describe : describe.skip;

/**
 * The job engine's statements, run by dataSourceExecutor on the service's DataSource on the real
 * server, through a proxy that can reset its connections (test/support/db-faults.ts). Server only.
 */
describeServer(dataSourceExecutor.name, () => {
  let m: IntegrationModule;
  let proxy: TerminatingProxy;
  let dataSource: DataSource;
  let proxied: ProxiedDataSource | undefined;

  beforeAll(async () => {
    m = await startIntegrationModule('postgres', { imports: [] });
    proxied = await proxiedDataSource(m);
    ({ proxy, dataSource } = proxied);
  });
  afterAll(async () => {
    await proxied?.close();
    await m?.close();
  });

  it('fails a statement whose connection was reset as a lost connection, and runs the next', async () => {
    const executor = dataSourceExecutor(dataSource);
    const sleeping = executor.executeSql('SELECT pg_sleep(5)').catch((e: unknown) => e);
    await eventually(async () => {
      const rows = await m.dataSource.query<unknown[]>(
        "SELECT 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(5)' AND state = 'active'",
      );
      return rows.length > 0;
    }, 'the statement running');
    proxy.resetAll();
    const failure = await sleeping;
    // node-postgres's own socket error, which only the mark ties to the database.
    expect(failure).toMatchObject({ code: 'ECONNRESET' });
    expect(isDatabaseConnectionLost(failure)).toBe(true);
    expect(await executor.executeSql('SELECT 1 AS one')).toEqual({ rows: [{ one: 1 }] });
  });
});
