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

/** Header paths pino removes from request and response logs. */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
];

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
