/**
 * Hours the web console keeps an upload the service did not answer (console/src/upload-store.ts,
 * in the browser's IndexedDB), to offer it again with its first Idempotency-Key: within
 * IDEMPOTENCY_KEY_TTL_HOURS (24 by default) the service still knows the key, and an upload it took
 * is answered again rather than stored twice. Start-up warns when the setting is not above this
 * (IdempotencyService).
 *
 * The console's bundle imports this file too (it shares no other code with the service): keep it
 * free of imports, plain values only.
 */
export const CONSOLE_UPLOADS_KEPT_HOURS = 20;
