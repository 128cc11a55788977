import { once } from 'node:events';
import { createServer } from 'node:net';
import { Pool } from 'pg';
import { DatabaseClient } from './database-client';
import { isDatabaseConnectionLost } from './pg-errors';

/** A loopback port nothing listens on: connecting to it is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

describe(DatabaseClient.name, () => {
  it("marks a refused connection as the database's, through the pool as TypeORM uses it", async () => {
    const port = await closedPort();
    const pool = new Pool({ host: '127.0.0.1', port, Client: DatabaseClient, max: 1 });
    try {
      const error: unknown = await pool.query('SELECT 1').catch((e: unknown) => e);
      expect((error as { code?: string }).code).toBe('ECONNREFUSED');
      expect(isDatabaseConnectionLost(error)).toBe(true);
    } finally {
      await pool.end();
    }
  });

  it('marks it when connected directly too', async () => {
    const client = new DatabaseClient({ host: '127.0.0.1', port: await closedPort() });
    const error: unknown = await client.connect().catch((e: unknown) => e);
    expect(isDatabaseConnectionLost(error)).toBe(true);
  });
});
