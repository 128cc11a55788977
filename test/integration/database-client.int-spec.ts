import type { DataSource } from 'typeorm';
import { DatabaseClient } from '../../src/database/database-client';
import { isDatabaseConnectionLost } from '../../src/database/pg-errors';
import { dataSourceExecutor } from '../../src/jobs/pg-boss.engine';
import {
  terminateBackend,
  terminateConnections,
  proxiedDataSource,
  type ProxiedDataSource,
  type TerminatingProxy,
} from '../support/db-faults';
import { eventually } from '../support/eventually';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

/** How many connections TypeORM's pool (node-postgres's) holds. */
const poolSize = (dataSource: DataSource): number =>
  (dataSource.driver as unknown as { master: { totalCount: number } }).master.totalCount;

/**
 * Connections lost at the moments nothing expects them, on the real server: through a proxy that
 * ends a connection the way the server does right after an answer, or resets it
 * (test/support/db-faults.ts), and by pg_terminate_backend between two statements; for the
 * service's own queries (DatabaseClient, pg-errors.ts) and the job engine's (dataSourceExecutor).
 * Server only.
 */
const describeServer = AVAILABLE_BACKENDS.includes('postgres') ? describe : describe.skip;

describeServer(`${DatabaseClient.name} and ${dataSourceExecutor.name}`, () => {
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

  it("survives a new connection ended in the same packet as its start-up's answer", async () => {
    // The pool's connections gone, the next query opens a new one; the server's end arrives
    // with its start-up answer, while the pool has lent the client and TypeORM has not yet
    // listened to it: an 'error' event no one heard, which ended the process (found by
    // terminating every connection every second under load).
    await terminateConnections(m.db.env.DATABASE_URL);
    await eventually(() => poolSize(dataSource) === 0, 'the pool to drop its dead connections');
    proxy.terminateAfterNextAnswer();
    const lost = await dataSource.query('SELECT 1 AS one').catch((e: unknown) => e);
    // That query meets a dead connection: lost (503 database_unavailable to a request).
    expect(isDatabaseConnectionLost(lost)).toBe(true);
    // The dead connection retired: the next query gets a live one.
    expect(await dataSource.query('SELECT 2 AS two')).toEqual([{ two: 2 }]);
  });

  it("answers a transaction's next statement after its connection died between two as lost", async () => {
    // TypeORM releases a transaction's runner when its connection fails while no statement runs;
    // the next EntityManager.query then throws its own error, not node-postgres's.
    const outcome = await m.dataSource
      .transaction(async (manager) => {
        const [{ pid }] = await manager.query<{ pid: number }[]>('SELECT pg_backend_pid() AS pid');
        await terminateBackend(pid);
        await eventually(() => manager.queryRunner?.isReleased === true, 'the runner released');
        return manager.query('SELECT 1');
      })
      .catch((e: unknown) => e);
    expect((outcome as Error).name).toBe('QueryRunnerProviderAlreadyReleasedError');
    expect(isDatabaseConnectionLost(outcome)).toBe(true);
    expect(await m.dataSource.query('SELECT 3 AS three')).toEqual([{ three: 3 }]);
  });

  it("fails a job engine's statement whose connection was reset as a lost connection, and runs the next", async () => {
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
