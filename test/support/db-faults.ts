import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from '../../src/database/data-source.options';
import { DATABASE_CONFIG, type DatabaseConfig } from '../../src/database/database.config';
import { eventually } from './eventually';
import type { IntegrationModule } from './integration';
import { tcpProxy, type TcpProxy } from './tcp-proxy';

/**
 * Database faults injected into the real PostgreSQL server a test's service uses (issue 20 §1):
 * its connections terminated as a failover or an administrator would (pg_terminate_backend), and
 * a service's transaction held at a chosen statement by a lock a test takes in a connection of its
 * own, so that the connection can be killed exactly mid-transaction. Server only: PGlite has no
 * backends to kill.
 */

/** A connection of the test's own to `url` (the service's database, or the server's). */
async function connected(url: string): Promise<Client> {
  const client = new Client({ connectionString: url });
  await client.connect();
  return client;
}

function databaseOf(url: string): string {
  return new URL(url).pathname.slice(1);
}

/** Runs `work` on a short-lived connection to the server (its maintenance database). */
async function onServer<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) throw new Error('TEST_DATABASE_URL is not set');
  const client = await connected(serverUrl);
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Terminates every connection to the database of `url` (the service's, the job queue's): their count. */
export function terminateConnections(url: string): Promise<number> {
  return onServer(async (admin) => {
    const { rows } = await admin.query<{ killed: boolean }>(
      `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
        WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [databaseOf(url)],
    );
    return rows.filter((r) => r.killed).length;
  });
}

/** Terminates one backend; true when it existed. */
export function terminateBackend(pid: number): Promise<boolean> {
  return onServer(async (admin) => {
    const { rows } = await admin.query<{ killed: boolean }>(
      'SELECT pg_terminate_backend($1) AS killed',
      [pid],
    );
    return rows[0]?.killed === true;
  });
}

/** The connections the service has open to the database of `url`. */
export function connectionCount(url: string): Promise<number> {
  return onServer(async (admin) => {
    const { rows } = await admin.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
      [databaseOf(url)],
    );
    return rows[0].n;
  });
}

export interface HeldLock {
  /** Ends the lock's transaction: whatever waited on it goes on (or is already dead). */
  release(): Promise<void>;
}

/**
 * Takes `lockStatement` (e.g. `LOCK TABLE images IN SHARE MODE`) in a transaction of the test's
 * own on the database of `url` and holds it until released: a service statement that conflicts
 * with it waits, its transaction open.
 */
export async function holdLock(url: string, lockStatement: string): Promise<HeldLock> {
  const client = await connected(url);
  // A lock holder's own connection is never the one killed, but a stray error must not crash Jest.
  client.on('error', () => undefined);
  await client.query('BEGIN');
  await client.query(lockStatement);
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      try {
        await client.query('ROLLBACK');
      } finally {
        await client.end();
      }
    },
  };
}

export interface BlockedBackend {
  pid: number;
  query: string;
}

/**
 * Waits for a service connection to the database of `url` that is waiting on a lock while running
 * a statement matching `query` (pg_stat_activity: state 'active', wait_event_type 'Lock'): that
 * is the transaction held mid-way by {@link holdLock}.
 */
export async function blockedBackend(url: string, query: RegExp): Promise<BlockedBackend> {
  let found: BlockedBackend | undefined;
  await onServer((admin) =>
    eventually(
      async () => {
        const { rows } = await admin.query<BlockedBackend>(
          `SELECT pid, query FROM pg_stat_activity
          WHERE datname = $1 AND pid <> pg_backend_pid()
            AND state = 'active' AND wait_event_type = 'Lock'`,
          [databaseOf(url)],
        );
        found = rows.find((row) => query.test(row.query));
        return found !== undefined;
      },
      `a connection blocked on a lock while running ${String(query)}`,
    ),
  );
  return found!;
}

/**
 * Kills the service's connection exactly mid-transaction: holds `lockStatement`, waits until the
 * statement matching `query` is blocked by it, terminates that backend, then releases the lock.
 * `start` begins the work (a request, a job) and is awaited after, its outcome returned.
 */
export async function killMidTransaction<T>(
  url: string,
  lockStatement: string,
  query: RegExp,
  start: () => Promise<T>,
): Promise<{ outcome: T; killed: BlockedBackend }> {
  const lock = await holdLock(url, lockStatement);
  let pending: Promise<T> | undefined;
  try {
    pending = start();
    // Its rejection is the caller's to see, once the lock is gone.
    pending.catch(() => undefined);
    const killed = await blockedBackend(url, query);
    if (!(await terminateBackend(killed.pid))) throw new Error(`backend ${killed.pid} was gone`);
    await lock.release();
    return { outcome: await pending, killed };
  } finally {
    await lock.release();
  }
}

/** A connection-ending ErrorResponse, as the server sends it to a backend pg_terminate_backend ends. */
function terminationMessage(): Buffer {
  const fields = Buffer.concat([
    ...[
      ['S', 'FATAL'],
      ['V', 'FATAL'],
      ['C', '57P01'],
      ['M', 'terminating connection due to administrator command'],
    ].map(([type, value]) => Buffer.from(`${type}${value}\0`)),
    Buffer.from([0]),
  ]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(fields.length + 4);
  return Buffer.concat([Buffer.from('E'), length, fields]);
}

/** ReadyForQuery, idle: the end of the server's answer to a statement outside a transaction. */
const READY_IDLE = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);

export interface TerminatingProxy extends TcpProxy {
  /**
   * The next answer the server completes (a query's, or a new connection's start-up: the packet
   * that ends with ReadyForQuery) reaches the client with the server's termination of the
   * connection in the same packet, and the connection ends: a backend terminated just after it
   * answered, its end read before the client has moved on.
   */
  terminateAfterNextAnswer(): void;
}

/**
 * A loopback TCP proxy in front of the PostgreSQL server of `url` that can end a connection the
 * way the server does, at a moment pg_terminate_backend cannot be made to hit deterministically:
 * right after an answer, in the same packet. Its resetAll() resets every connection (ECONNRESET).
 */
export async function terminatingProxy(url: string): Promise<TerminatingProxy> {
  let armed = false;
  const proxy = await tcpProxy(url, {
    fromServer: (chunk, client, upstream) => {
      if (!armed || !chunk.subarray(-READY_IDLE.length).equals(READY_IDLE)) {
        return void client.write(chunk);
      }
      armed = false;
      client.end(Buffer.concat([chunk, terminationMessage()]));
      upstream.destroy();
    },
  });
  return { ...proxy, terminateAfterNextAnswer: () => (armed = true) };
}

export interface ProxiedDataSource {
  proxy: TerminatingProxy;
  /** The service's own DataSource settings, on the proxy. */
  dataSource: DataSource;
  config: DatabaseConfig;
  close(): Promise<void>;
}

/** A DataSource as the service makes it, on `m`'s database through a terminating proxy. */
export async function proxiedDataSource(m: IntegrationModule): Promise<ProxiedDataSource> {
  const proxy = await terminatingProxy(m.db.env.DATABASE_URL);
  const config = { ...m.get<DatabaseConfig>(DATABASE_CONFIG), DATABASE_URL: proxy.url };
  const dataSource = await new DataSource(buildDataSourceOptions(config)).initialize();
  return {
    proxy,
    dataSource,
    config,
    close: async () => {
      await dataSource.destroy();
      await proxy.close();
    },
  };
}
