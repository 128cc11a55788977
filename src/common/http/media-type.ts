/**
 * Whether a `Content-Type` names `type` (`application/json`, `text/csv`), with or without
 * parameters, in any case, and with white space around it trimmed as Fastify trims it before it
 * chooses a body parser (U+00A0 included, which Node passes through). The routes' own checks of
 * a body's type (its parser, the Idempotency-Key's digest, the data-URI stream) must agree with
 * Fastify's: a body Fastify parsed as JSON that one of them did not take for JSON was run without
 * its key, read whole instead of streamed, or refused.
 */
export function isMediaType(contentType: string | undefined, type: string): boolean {
  const value = (contentType ?? '').trim().toLowerCase();
  if (!value.startsWith(type)) return false;
  const rest = value.slice(type.length).trimStart();
  return rest === '' || rest.startsWith(';');
}
