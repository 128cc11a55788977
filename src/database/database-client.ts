import { Client } from 'pg';
import { markDatabaseConnectionError } from './pg-errors';

/**
 * node-postgres's client, given to the pool, whose failures to connect carry the database's mark
 * (pg-errors.ts): a refused or reset socket is then known to be the database's, and a request
 * that meets it answers 503 database_unavailable rather than 500, while the same socket error of
 * the storage or of a fetched URL is not mistaken for it.
 */
export class DatabaseClient extends Client {
  /**
   * An 'error' no one listens to is dropped here instead of ending the process. node-postgres
   * emits the server's end of a connection (a failover, pg_terminate_backend) as an event when
   * no query is active; between the pool lending a client (it stops listening) and its borrower
   * listening (TypeORM's query runner, a microtask later), an end read in the same packet as the
   * connection's start-up answer has no listener, and EventEmitter would throw it. Nothing is
   * lost: node-postgres has marked the client not queryable, so its next query fails as a lost
   * connection (503 database_unavailable) and the pool retires it when it comes back.
   */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'error' && this.listenerCount('error') === 0) return false;
    return super.emit(event, ...args);
  }

  override connect(): Promise<Client>;
  override connect(callback: (err: Error) => void): void;
  override connect(callback?: (err: Error) => void): Promise<Client> | void {
    if (!callback) {
      return super.connect().catch((error: unknown) => {
        throw markDatabaseConnectionError(error);
      });
    }
    super.connect((error: Error) => callback(error && markDatabaseConnectionError(error)));
  }
}
