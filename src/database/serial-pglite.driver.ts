import { EventEmitter } from 'node:events';
import { PGlite, types, type PGliteOptions, type Results } from '@electric-sql/pglite';
import { lockEmbeddedDatabase } from './embedded-lock';

type Release = (err?: unknown) => void;
type ConnectCallback = (err: unknown, client: EventEmitter | null, release: Release) => void;
type QueryCallback = (err: unknown, result: unknown) => void;

/**
 * PostgreSQL takes JS booleans as 't'/'f' through pg; PGlite needs them spelled as literals.
 * (The same serialiser typeorm-pglite installs.)
 */
const booleanSerializer = (value: unknown): string => {
  if (value === true || value === 'true' || value === 1) return 'TRUE';
  if (value === false || value === 'false' || value === 0) return 'FALSE';
  return String(value);
};

/**
 * A `pg.Pool` look-alike over one embedded PGlite database, for TypeORM's postgres driver.
 *
 * PGlite is a single-user PostgreSQL backend: one session. typeorm-pglite hands that session to
 * every caller at once, so two TypeORM transactions interleave their statements (one's ROLLBACK
 * undoing the other's work), and it keeps one instance per process. This pool owns its instance
 * (one per DataSource) and lends the session to one query runner at a time: `connect()` waits
 * until the previous holder released it, so transactions serialise as row locks would order them
 * on a server. Code must therefore never wait on a second connection while holding one.
 */
class SerialPGlitePool extends EventEmitter {
  private readonly db: Promise<PGlite>;
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  /** Lets go of the data directory (embedded-lock.ts), once closed. */
  private unlock: () => void = () => undefined;

  constructor(options: PGliteOptions) {
    super();
    this.db = this.open(options);
    // Surface a failed open through connect(), not as an unhandled rejection.
    this.db.catch(() => undefined);
  }

  /** The data directory taken for this process, then opened. */
  private async open(options: PGliteOptions): Promise<PGlite> {
    const dir = options.dataDir;
    if (dir !== undefined && !dir.includes('://')) this.unlock = lockEmbeddedDatabase(dir);
    try {
      return await PGlite.create({
        ...options,
        serializers: { [types.BOOL]: booleanSerializer, ...options.serializers },
      });
    } catch (error) {
      this.unlock();
      throw error;
    }
  }

  connect(callback: ConnectCallback): void {
    if (this.closed) {
      callback(new Error('PGlite pool is closed'), null, () => undefined);
      return;
    }
    let free!: () => void;
    const previous = this.tail;
    this.tail = new Promise<void>((resolve) => (free = resolve));
    previous
      .then(() => this.db)
      .then(
        (db) => {
          const client = new SessionClient(db);
          let released = false;
          callback(null, client, () => {
            if (released) return;
            released = true;
            client.removeAllListeners();
            free();
          });
        },
        (err: unknown) => {
          free();
          callback(err, null, () => undefined);
        },
      );
  }

  /** Used only outside a query runner; runs as its own short exclusive session. */
  async query(
    sql: string,
    params?: unknown[] | QueryCallback,
    cb?: QueryCallback,
  ): Promise<unknown> {
    const callback = typeof params === 'function' ? params : cb;
    const values = typeof params === 'function' ? undefined : params;
    const { client, release } = await new Promise<{ client: SessionClient; release: Release }>(
      (resolve, reject) =>
        this.connect((err, client, release) =>
          err || !client
            ? reject(err instanceof Error ? err : new Error(String(err)))
            : resolve({ client: client as SessionClient, release }),
        ),
    ).catch((err: Error) => {
      callback?.(err, null);
      throw err;
    });
    try {
      // SessionClient.query reports to the callback itself.
      return await client.query(sql, values, callback);
    } finally {
      release();
    }
  }

  end(callback?: (err?: unknown) => void): Promise<void> {
    this.closed = true;
    // Close only after every session has been released, so a shutdown never cuts a transaction.
    return this.tail
      .then(() => this.db)
      .then((db) => db.close())
      .finally(() => this.unlock())
      .then(
        () => callback?.(),
        (err: unknown) => callback?.(err),
      );
  }
}

class SessionClient extends EventEmitter {
  constructor(private readonly db: PGlite) {
    super();
  }

  /**
   * Runs a string of statements without parameters and returns the rows of all of them, in order
   * (what node-postgres gives as one result per statement): pg-boss needs the rows of a statement
   * in the middle of `BEGIN; …; COMMIT`. TypeORM itself uses `query`, which keeps only the last.
   */
  async queryAll(sql: string): Promise<{ rows: unknown[] }> {
    const results = await this.db.exec(sql);
    return { rows: results.flatMap((result) => result.rows) };
  }

  query(sql: string, params?: unknown[] | QueryCallback, cb?: QueryCallback): Promise<unknown> {
    const callback = typeof params === 'function' ? params : cb;
    const values = typeof params === 'function' ? undefined : params;
    const run: Promise<Results | undefined> =
      values && values.length > 0
        ? this.db.query(sql, values)
        : // exec runs multi-statement strings; TypeORM expects the result of the last one.
          this.db.exec(sql).then((results) => results[results.length - 1]);
    return run.then(
      (result) => {
        const normalised = result ?? { rows: [], fields: [], affectedRows: 0 };
        callback?.(null, normalised);
        return normalised;
      },
      (error: unknown) => {
        callback?.(error, null);
        throw error;
      },
    );
  }
}

/** A TypeORM `driver` value for `type: 'postgres'` backed by an embedded, serialised PGlite. */
export function serialPGliteDriver(options: PGliteOptions): unknown {
  return {
    Pool: class extends SerialPGlitePool {
      constructor() {
        super(options);
      }
    },
  };
}
