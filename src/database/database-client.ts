import { Client } from 'pg';
import { markDatabaseConnectionError } from './pg-errors';

/**
 * node-postgres's client, given to the pool, whose failures to connect carry the database's mark
 * (pg-errors.ts): a refused or reset socket is then known to be the database's, and a request
 * that meets it answers 503 database_unavailable rather than 500, while the same socket error of
 * the storage or of a fetched URL is not mistaken for it.
 */
export class DatabaseClient extends Client {
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
