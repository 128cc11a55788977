import type { IncomingHttpHeaders } from 'node:http';

/** Query parameters that may carry credentials; their values never reach a log line. */
const SECRET_QUERY_PARAMS = new Set([
  'api_key',
  'apikey',
  'x-api-key',
  'key',
  'token',
  'access_token',
  'password',
  'signature',
]);

export const REDACTED = '[REDACTED]';

/** Request headers that carry credentials; their values never reach a log line. */
const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'x-api-key', 'cookie'] as const;

/**
 * Request headers as they may be logged: the values of credential-bearing headers replaced, in a
 * copy (the request keeps its own). Done here rather than by pino's `redact` paths, which cloned
 * the request on every line of every request, credentials or not; headers without one are
 * returned as they are. (Response headers are never logged.)
 */
export function redactHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  if (!SECRET_HEADERS.some((name) => Object.hasOwn(headers, name))) return headers;
  const copy = { ...headers };
  for (const name of SECRET_HEADERS) if (Object.hasOwn(copy, name)) copy[name] = REDACTED;
  return copy;
}

/**
 * A URL as it may be logged: the values of credential-bearing query parameters replaced. Works on
 * raw request URLs (path plus query) and never throws, whatever the client sent.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const rawName = eq === -1 ? pair : pair.slice(0, eq);
      let name = rawName.toLowerCase();
      // Only an encoded name needs decoding (every request's query passes here).
      if (/[%+]/.test(rawName)) {
        try {
          name = decodeURIComponent(rawName.replace(/\+/g, ' ')).toLowerCase();
        } catch {
          // Not valid percent-encoding: the name as written.
        }
      }
      return SECRET_QUERY_PARAMS.has(name) ? `${rawName}=${REDACTED}` : pair;
    })
    .join('&');
  return `${url.slice(0, q)}?${query}`;
}
