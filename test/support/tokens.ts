import { createHmac } from 'node:crypto';

function b64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** An HS256 JWT with any claims and key, for forging tokens the service must refuse. */
export function forgeHs256(claims: object, key: string | Buffer, header: object = {}): string {
  const head = b64url({ alg: 'HS256', typ: 'JWT', ...header });
  const body = b64url(claims);
  const signature = createHmac('sha256', key).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${signature}`;
}

/** A JWT with `alg: none` and no signature. */
export function unsignedToken(claims: object): string {
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
}
