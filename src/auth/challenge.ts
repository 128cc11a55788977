import { AppError } from '../common/errors/app.error';
import type { Principal } from './principal';

const REALM = 'product-image-service';

/**
 * The `WWW-Authenticate` header of a 401 (RFC 9110 §11.6.1: every 401 carries one): the schemes
 * the API takes, and with a bearer token's failure its `error` (RFC 6750 §3.1).
 */
export function authenticationChallenge(bearerError?: string): Record<string, string> {
  const bearer = `Bearer realm="${REALM}"${bearerError ? `, error="${bearerError}"` : ''}`;
  return { 'WWW-Authenticate': `${bearer}, Token realm="${REALM}"` };
}

/**
 * The 401 of a request admitted with a credential that is no longer good, found out while it is
 * under way: the key revoked or expired, the user disabled or deleted or their session ended. The
 * code and challenge are those the next request with the credential gets.
 */
export function credentialGoneMeanwhile(type: Principal['type']): AppError {
  if (type === 'api_key') {
    return new AppError(
      'invalid_api_key',
      'The API key was revoked or expired meanwhile.',
      [],
      authenticationChallenge(),
    );
  }
  return new AppError(
    'invalid_token',
    'Meanwhile the user was disabled or deleted, or the session ended (a logout, a ' +
      'password change).',
    [],
    authenticationChallenge('invalid_token'),
  );
}
