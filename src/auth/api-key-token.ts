import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys look like `pis_<prefix>_<secret>`: the prefix (8 base62 characters) is public and finds
 * the key; the secret (32 random bytes, base64url) is stored only as its SHA-256. A key is random
 * and long, so a fast hash suffices (there is nothing to brute-force as with passwords).
 */
const KEY_PATTERN = /^pis_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{43})$/;
const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export interface NewApiKeyToken {
  key: string;
  prefix: string;
  secretHash: string;
}

function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 * 62: reject the tail so every character is equally likely.
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function newApiKeyToken(): NewApiKeyToken {
  const prefix = randomBase62(8);
  const secret = randomBytes(32).toString('base64url');
  return { key: `pis_${prefix}_${secret}`, prefix, secretHash: hashSecret(secret) };
}

export function parseApiKeyToken(key: string): { prefix: string; secret: string } | undefined {
  const match = KEY_PATTERN.exec(key);
  return match ? { prefix: match[1], secret: match[2] } : undefined;
}

/** Constant-time comparison of a presented secret with the stored hash. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
