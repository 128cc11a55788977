const REALM = 'product-image-service';

/**
 * The `WWW-Authenticate` header of a 401 (RFC 9110 §11.6.1: every 401 carries one): the schemes
 * the API takes, and with a bearer token's failure its `error` (RFC 6750 §3.1).
 */
export function authenticationChallenge(bearerError?: string): Record<string, string> {
  const bearer = `Bearer realm="${REALM}"${bearerError ? `, error="${bearerError}"` : ''}`;
  return { 'WWW-Authenticate': `${bearer}, Token realm="${REALM}"` };
}
