/** A percent-encoded octet: `%` and two hex digits, in either case. */
const PERCENT_ENCODED = /%[0-9a-f]{2}/gi;
/** RFC 3986's unreserved characters, which mean the same percent-encoded or not. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** The scheme and authority of a request-target in absolute form: `http://host:port`. */
const ABSOLUTE_FORM = /^https?:\/\/[^/]*/i;

/**
 * The path of a request-target, without its query: one in absolute form (`http://host/a`, which
 * HTTP/1.1 servers take, RFC 9112 §3.2.2, from a client sending through a proxy) is its path
 * alone, `/a`, as the router reads it to find the route (find-my-way: the scheme in any case, the
 * authority up to the path, none meaning `/`). Pure.
 */
export function targetPath(url: string): string {
  const path = url.split('?', 1)[0];
  if (path.startsWith('/')) return path;
  const origin = ABSOLUTE_FORM.exec(path);
  return origin ? path.slice(origin[0].length) || '/' : path;
}

/**
 * A request's path as an Idempotency-Key's request compares it: as RFC 3986 §6.2.2 compares URIs,
 * the hex digits of a percent-encoding in upper case (`%c3%a9` is `%C3%A9`) and the unreserved
 * characters (letters, digits, `-`, `.`, `_`, `~`) decoded (`%70roducts` is `products`). The
 * router reads these spellings as one route, and a client library, or a proxy that normalises
 * URLs, may retry with another of them than it sent first. Reserved characters stay encoded
 * (`%2F` is no `/`), and a `%` without two hex digits after it stays as it is. Pure.
 */
export function fingerprintPath(path: string): string {
  return path.replace(PERCENT_ENCODED, (encoded) => {
    const character = String.fromCharCode(parseInt(encoded.slice(1), 16));
    return UNRESERVED.test(character) ? character : encoded.toUpperCase();
  });
}

/**
 * The path a request's fingerprint records (see fingerprintPath): one of `aliases`, the paths of
 * an operation served at several (see IdempotentOptions.aliases), is the first of them, so that
 * a retry through another is the same request; any other path is as fingerprintPath reads it.
 * Pure.
 */
export function operationPath(path: string, aliases: readonly string[] = []): string {
  const read = fingerprintPath(path);
  const aliased = aliases.some((alias) => fingerprintPath(alias) === read);
  return aliased ? fingerprintPath(aliases[0]) : read;
}
