import { DataSource } from 'typeorm';
import { startTestApp, type TestApp } from '../support/test-app';

const onServer = process.env.TEST_DATABASE_URL ? describe : describe.skip;

/**
 * The readiness probe asks the database on a connection of its own. Through the pool, its ping
 * waited for a free connection: with every one busy (slow statements, a large import), it timed
 * out after 3 s and answered 503 not_ready, on every instance at once, so that a load balancer
 * would take them all out while the database answered. (Embedded PostgreSQL has no pool.)
 */
onServer('Readiness while the connection pool is busy', () => {
  let t: TestApp;
  let ds: DataSource;

  beforeAll(async () => {
    t = await startTestApp({ DATABASE_POOL_SIZE: '2' });
    ds = t.app.get(DataSource);
  });
  afterAll(() => t?.close());

  const ready = () => t.app.inject({ method: 'GET', url: '/health/ready' });
  const connections = async () => {
    const [row] = await ds.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database()`,
    );
    return row.n;
  };

  it('answers 200 while every pooled connection is busy', async () => {
    const busy = [ds.query('SELECT pg_sleep(5)'), ds.query('SELECT pg_sleep(5)')];
    await new Promise((resolve) => setTimeout(resolve, 300));
    const res = await ready();
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ details: { database: { status: 'up' } } });
    await Promise.all(busy);
  });

  it('opens one connection of its own however many probes arrive, and opens it again once lost', async () => {
    const before = await connections();
    const answers = await Promise.all(Array.from({ length: 50 }, () => ready()));
    expect(answers.map((res) => res.statusCode)).toEqual(Array(50).fill(200));
    // The pool's (at most 2, one of them counting) and the probe's one.
    expect(await connections()).toBeLessThanOrEqual(Math.max(before, 2) + 1);

    // The probe's connection ended by the server (a restart, a failover, an administrator).
    await ds.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    expect((await ready()).statusCode).toBe(200);
  });
});
