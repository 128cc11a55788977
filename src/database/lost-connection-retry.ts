import { setTimeout as sleep } from 'node:timers/promises';
import { isDatabaseConnectionLost } from './pg-errors';

export interface LostConnectionRetry {
  /** Tries in all (3). */
  attempts?: number;
  /** The n-th retry waits n times this long (100 ms: 0.1 s, then 0.2 s). */
  delayMs?: number;
}

/**
 * Runs `work`, and again after a lost database connection, up to `attempts` tries: for the
 * clean-up and book-keeping a failure leaves to do (an answer to record, a half-received import
 * to delete), which meets the very outage that caused the failure. The connection killed under a
 * request is often the one the next statement is handed; the pool's next is live (a failover's
 * first seconds, pg_terminate_backend). Any other error, or the last one, is thrown.
 */
export async function retryOnLostConnection<T>(
  work: () => Promise<T>,
  { attempts = 3, delayMs = 100 }: LostConnectionRetry = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !isDatabaseConnectionLost(error)) throw error;
      await sleep(delayMs * attempt);
    }
  }
}
