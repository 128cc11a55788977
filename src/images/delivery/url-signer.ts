import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { developmentSecret } from '../../common/secrets/development-secret';
import { NodeEnv } from '../../config/env.validation';
import type { DeliveryConfig } from './delivery.config';

/**
 * Signs and checks transform URLs: an HMAC-SHA256 of `<options>/<image id>` under a server key,
 * its first 16 bytes (128 bits, as imgproxy's truncated signatures: forging one is still out of
 * reach, and an image response carries dozens of these URLs) in base64url, 22 characters. The first key signs; every key is accepted, so keys rotate without breaking the URLs
 * pages already hold (add the new key first, drop the old one once caches have turned over).
 */
export class UrlSigner {
  private readonly keys: readonly Buffer[];

  constructor(keys: readonly (string | Buffer)[]) {
    if (keys.length === 0) throw new Error('A URL signer needs a key');
    this.keys = keys.map((key) => (typeof key === 'string' ? Buffer.from(key, 'utf8') : key));
  }

  sign(options: string, imageId: string): string {
    return digest(this.keys[0], options, imageId).toString('base64url');
  }

  /** Constant-time against every key; a signature of another length is simply wrong. */
  verify(signature: string, options: string, imageId: string): boolean {
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== SIGNATURE_BYTES || given.toString('base64url') !== signature) return false;
    let valid = false;
    for (const key of this.keys) {
      valid = timingSafeEqual(given, digest(key, options, imageId)) || valid;
    }
    return valid;
  }
}

const SIGNATURE_BYTES = 16;

function digest(key: Buffer, options: string, imageId: string): Buffer {
  return createHmac('sha256', key)
    .update(`${options}/${imageId}`)
    .digest()
    .subarray(0, SIGNATURE_BYTES);
}

const DEV_KEY_FILE = 'url-signing-key';

const derivedKey = (secret: string): Buffer =>
  Buffer.from(hkdfSync('sha256', secret, '', 'transform-url-signing', 32));

/**
 * DELIVERY_SIGNING_KEYS when set (comma-separated, the first signs). Else a key derived (HKDF) from
 * JWT_SECRET (and one from JWT_PREVIOUS_SECRET, accepted, not signing), so instances that share their JWT secret sign alike with nothing more to configure,
 * and a leaked URL key reveals nothing of the token secret. Else, outside production, a key
 * generated once into DATA_DIR; in production (RS256 tokens, no shared secret) start-up fails.
 */
export function loadUrlSigner(config: DeliveryConfig): UrlSigner {
  const configured = config.DELIVERY_SIGNING_KEYS?.split(',').map((key) => key.trim());
  if (configured?.length) return new UrlSigner(configured);
  if (config.JWT_SECRET) {
    // After a rotation of JWT_SECRET, the URLs signed under the previous one keep working.
    const secrets = [config.JWT_SECRET, config.JWT_PREVIOUS_SECRET].filter((s) => s !== undefined);
    return new UrlSigner(secrets.map(derivedKey));
  }
  if (config.NODE_ENV === NodeEnv.Production) {
    throw new Error('DELIVERY_SIGNING_KEYS is required in production when JWT_SECRET is not set');
  }
  return new UrlSigner([developmentSecret(config.DATA_DIR, DEV_KEY_FILE, 'DELIVERY_SIGNING_KEYS')]);
}
