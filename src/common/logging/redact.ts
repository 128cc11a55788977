import type { IncomingHttpHeaders } from 'node:http';

/** Query parameters that may carry credentials; their values never reach a log line. */
const SECRET_QUERY_PARAMS = new Set([
  'api_key',
  'api-key',
  'apikey',
  'x-api-key',
  'key',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'jwt',
  'password',
  'secret',
  'client_secret',
  'signature',
  'sig',
  // A presigned cloud storage URL's (S3, Google Cloud Storage, AWS's older form): the names
  // OpenTelemetry's HTTP instrumentation redacts of its own, since a span's URL attributes are
  // replaced by this redaction where it changed anything (tracing/otel-sdk.ts).
  'x-amz-signature',
  'x-amz-credential',
  'x-amz-security-token',
  'x-goog-signature',
  'awsaccesskeyid',
]);

export const REDACTED = '[REDACTED]';

/**
 * Request headers that carry credentials, ours (`authorization`, `x-api-key`, `cookie`) or other
 * services' that a client sends everywhere (an S3 session's `x-amz-security-token`, an
 * `x-auth-token`): by the words such names hold. Their values never reach a log line.
 */
const SECRET_HEADER =
  /auth|token|secret|passw|signature|api[-_]?key|access[-_]?key|cookie|credential|session|dpop/;

/**
 * Request headers as they may be logged: the values of credential-bearing headers replaced, in a
 * copy (the request keeps its own). Done here rather than by pino's `redact` paths, which cloned
 * the request on every line of every request, credentials or not; headers without one are
 * returned as they are. (Response headers are never logged.)
 */
export function redactHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const secret = Object.keys(headers).filter((name) => SECRET_HEADER.test(name));
  if (secret.length === 0) return headers;
  const copy = { ...headers };
  for (const name of secret) copy[name] = REDACTED;
  return copy;
}

/**
 * Where a raw request URL's query may start: its first `?` or `#` (find-my-way, Fastify's router,
 * takes a `#` for the start of the query too, so `/x#x-api-key=…` authenticates), or `;`, which
 * some clients write for one (refused, but logged all the same).
 */
const QUERY_START = /[?;#]/;

/**
 * A URL as it may be logged: the values of credential-bearing query parameters replaced. Works on
 * raw request URLs (path plus query) and never throws, whatever the client sent. The query is read
 * from its first `?`, `;` or `#`, and split at `&` and `;`, so that no form a router or client
 * might take for a parameter keeps its value.
 */
export function redactUrl(url: string): string {
  const q = url.search(QUERY_START);
  if (q === -1) return url;
  const query = url
    .slice(q + 1)
    .split(/([&;?#])/)
    .map((pair) => {
      const eq = pair.indexOf('=');
      const rawName = eq === -1 ? pair : pair.slice(0, eq);
      // Only an encoded name needs decoding (every request's query passes here).
      const name = (/[%+]/.test(rawName) ? decodeName(rawName) : rawName).toLowerCase();
      return nameParts(name).some((part) => SECRET_QUERY_PARAMS.has(part))
        ? `${rawName}=${REDACTED}`
        : pair;
    })
    .join('');
  return `${url.slice(0, q + 1)}${query}`;
}

/**
 * A parameter name decoded: `+` as a space, each valid `%XX` escape (a run of them, for a UTF-8
 * character) as its character, and a stray `%` or an escape that is not UTF-8 left as written, so
 * that one of them cannot keep the rest of the name undecoded.
 */
function decodeName(raw: string): string {
  return raw.replace(/\+/g, ' ').replace(/(?:%[0-9a-f]{2})+/gi, (escapes) => {
    try {
      return decodeURIComponent(escapes);
    } catch {
      return escapes;
    }
  });
}

/**
 * The parts of a decoded, lower-cased parameter name that may name a credential: the name split at
 * `[`, `]` and `.`, as query parsers read nested names (`x-api-key[]`, `x-api-key[0]`,
 * `x-api-key.a`, `auth[x-api-key]`, `headers.x-api-key`: qs, PHP, Rails), which a client
 * serialising its key as a list or inside an object writes, each without the white space and
 * control characters around it. Such a name is not the key to the service, but its value is a key.
 */
function nameParts(name: string): string[] {
  // eslint-disable-next-line no-control-regex
  const around = /^[\s\x00-\x1f\x7f]+|[\s\x00-\x1f\x7f]+$/g;
  return name.split(/[[\].]/).map((part) => part.replace(around, ''));
}
