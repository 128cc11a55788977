/**
 * Why `signal` aborted, as an Error to reject or throw with: the reason its owner gave when that
 * is one (a deadline's StorageTimeoutError, a making's RequestsGoneError), else `fallback` with
 * the reason as its cause (`abort()` without one gives a DOMException, an `abort('x')` a string).
 */
export function abortReason(signal: AbortSignal | undefined, fallback: string): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error(fallback, { cause: reason });
}
