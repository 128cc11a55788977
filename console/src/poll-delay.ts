import { CallFailed } from './api';

/** The longest wait between two reads of a view that keeps failing, without a Retry-After. */
const MAX_BACK_OFF_MS = 60_000;
/** The longest Retry-After heeded as it came (a date far off, a number meant for another client). */
const MAX_RETRY_AFTER_MS = 10 * 60_000;

/**
 * How long a view that reads again by itself (the jobs, an import's rows) waits before its next
 * read: `everyMs` while its reads succeed; after `failures` failed in a row, twice as long for each
 * failure past the first (2 s, 4 s, 8 s, … up to a minute), and never less than the service's
 * Retry-After (a 429 or 503 saying when to come back). Every open tab reading every two seconds
 * through an outage, or a rate limit, only made it last.
 */
export function nextReadInMs(everyMs: number, failures: number, error?: unknown): number {
  if (failures <= 0) return everyMs;
  const backOff = Math.min(everyMs * 2 ** (failures - 1), Math.max(everyMs, MAX_BACK_OFF_MS));
  const asked = error instanceof CallFailed ? (error.retryAfterMs ?? 0) : 0;
  return Math.max(backOff, Math.min(asked, MAX_RETRY_AFTER_MS));
}
