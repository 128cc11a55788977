import { QueryFailedError } from 'typeorm';
import { isDatabaseConnectionLost } from '../../src/database/pg-errors';
import {
  MAX_PREPARED_STATEMENTS,
  PreparedQueries,
  preparedStatementName,
} from '../../src/database/prepared-queries';
import { PreparedQueriesModule } from '../../src/database/prepared-queries.module';
import { killMidTransaction, proxiedDataSource } from '../support/db-faults';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';
import { AVAILABLE_BACKENDS } from '../support/test-database';

const SUM = 'SELECT $1::int + $2::int AS sum';

/**
 * The hot reads as prepared statements, against the real server (and PGlite, where they run
 * through TypeORM). One connection in the pool, so what the service prepared is what the test's
 * own queries on that connection see in pg_prepared_statements.
 */
describe(PreparedQueries.name, () => {
  describe.each(AVAILABLE_BACKENDS)('on %s', (backend) => {
    let m: IntegrationModule;
    let prepared: PreparedQueries;

    /** The names of the statements prepared on the pool's one connection. */
    const preparedNames = async (): Promise<string[]> =>
      (
        await m.dataSource.query<{ name: string }[]>(
          'SELECT name FROM pg_prepared_statements ORDER BY name',
        )
      ).map((row) => row.name);

    beforeAll(async () => {
      m = await startIntegrationModule(backend, {
        imports: [PreparedQueriesModule],
        env: { DATABASE_POOL_SIZE: '1' },
      });
      prepared = m.get(PreparedQueries);
    });
    afterAll(() => m.close());

    it('answers the rows TypeORM answers, prepared once on a server and not at all on PGlite', async () => {
      expect(await prepared.query(SUM, [2, 3])).toEqual([{ sum: 5 }]);
      expect(await prepared.query(SUM, [40, 2])).toEqual([{ sum: 42 }]);
      expect(await prepared.query(SUM, [1, 1])).toEqual(await m.dataSource.query(SUM, [1, 1]));
      expect(await preparedNames()).toEqual(
        backend === 'postgres' ? [preparedStatementName(SUM)] : [],
      );
    });

    it('fails as a TypeORM query fails, and the next query works', async () => {
      const failure = await prepared.query('SELECT 1 / $1::int AS x', [0]).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(QueryFailedError);
      expect((failure as QueryFailedError).driverError).toMatchObject({ code: '22012' });
      expect(isDatabaseConnectionLost(failure)).toBe(false);
      expect(await prepared.query(SUM, [1, 2])).toEqual([{ sum: 3 }]);
    });

    if (backend !== 'postgres') return;

    it('prepares again what DEALLOCATE or DISCARD ALL took from its connection', async () => {
      await prepared.query(SUM, [1, 2]);
      for (const reset of ['DEALLOCATE ALL', 'DISCARD ALL']) {
        await m.dataSource.query(reset);
        expect(await preparedNames()).toEqual([]);
        expect(await prepared.query(SUM, [2, 2])).toEqual([{ sum: 4 }]);
        expect(await preparedNames()).toEqual([preparedStatementName(SUM)]);
      }
    });

    it('prepares again a statement whose result type a migration changed under it', async () => {
      await m.dataSource.query('CREATE TABLE widths (width int)');
      await m.dataSource.query('INSERT INTO widths VALUES (640)');
      const read = 'SELECT width FROM widths LIMIT $1';
      expect(await prepared.query(read, [1])).toEqual([{ width: 640 }]);
      // int to text: the prepared plan's result type no longer holds ("cached plan must not
      // change result type", 0A000).
      await m.dataSource.query('ALTER TABLE widths ALTER width TYPE text');
      expect(await prepared.query(read, [1])).toEqual([{ width: '640' }]);
    });

    it('answers a connection killed mid-query as lost, and the pool recovers', async () => {
      await m.dataSource.query('CREATE TABLE held (n int)');
      // The read waits on the test's lock, its connection busy, and that backend is killed.
      const { outcome } = await killMidTransaction(
        m.db.env.DATABASE_URL,
        'LOCK TABLE held IN ACCESS EXCLUSIVE MODE',
        /FROM held/,
        () => prepared.query('SELECT n FROM held WHERE n > $1', [0]).catch((e: unknown) => e),
      );
      expect(outcome).toBeInstanceOf(QueryFailedError);
      expect(isDatabaseConnectionLost(outcome)).toBe(true);
      expect(await prepared.query(SUM, [5, 5])).toEqual([{ sum: 10 }]);
    });

    it("survives the server ending a connection in the same packet as the query's answer", async () => {
      // The service's own DataSource, through a proxy that appends the server's termination
      // (57P01) to an answer: node-postgres, with no query active any more, emits it as an
      // 'error' event on a client the pool has lent out, which ended the process (the soak's
      // database connection kills found it).
      const { proxy, dataSource, config, close } = await proxiedDataSource(m);
      try {
        const through = new PreparedQueries(dataSource, config);
        expect(await through.query(SUM, [1, 2])).toEqual([{ sum: 3 }]);
        proxy.terminateAfterNextAnswer();
        // The answer came whole: it is the caller's; the dead connection is not the next's.
        expect(await through.query(SUM, [2, 2])).toEqual([{ sum: 4 }]);
        expect(await through.query(SUM, [3, 3])).toEqual([{ sum: 6 }]);
      } finally {
        await close();
      }
    });

    it(`prepares at most ${MAX_PREPARED_STATEMENTS} statements; others run unnamed`, async () => {
      await m.dataSource.query('DEALLOCATE ALL');
      const texts = Array.from(
        { length: MAX_PREPARED_STATEMENTS + 20 },
        (_, i) => `SELECT $1::int + ${i} AS n`,
      );
      for (const [i, text] of texts.entries()) {
        expect(await prepared.query(text, [1])).toEqual([{ n: i + 1 }]);
      }
      // The texts run before (SUM and the others above) counted towards the bound.
      const names = await preparedNames();
      expect(names).toContain(preparedStatementName(texts[0]));
      expect(names.length).toBeLessThanOrEqual(MAX_PREPARED_STATEMENTS);
      expect(names).not.toContain(preparedStatementName(texts.at(-1) as string));
    });
  });

  it('prepares nothing when DATABASE_PREPARED_STATEMENTS is false', async () => {
    if (!AVAILABLE_BACKENDS.includes('postgres')) return;
    const m = await startIntegrationModule('postgres', {
      imports: [PreparedQueriesModule],
      env: { DATABASE_POOL_SIZE: '1', DATABASE_PREPARED_STATEMENTS: 'false' },
    });
    try {
      expect(await m.get(PreparedQueries).query(SUM, [2, 3])).toEqual([{ sum: 5 }]);
      expect(await m.dataSource.query('SELECT name FROM pg_prepared_statements')).toEqual([]);
    } finally {
      await m.close();
    }
  });
});
