import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  timingSafeEqual,
  verify,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { developmentSecret } from '../common/secrets/development-secret';
import { JwtAlgorithm, NodeEnv } from '../config/env.validation';
import type { AuthConfig } from './auth.config';

/**
 * How tokens are signed and verified; exactly one algorithm is ever accepted.
 *
 * The keys are parsed once, here. Given a string or a PEM buffer, jsonwebtoken parses it again on
 * every call, and for an HS256 secret first tries it as a PEM public key and throws: 38 µs per
 * verified token against 10 µs with a `KeyObject` (measured on this 2-core machine, Node 24), on
 * every request that carries a bearer token.
 *
 * Tokens name their key in the `kid` header (a fingerprint, see keyId), so that after a rotation
 * the previous key (JWT_PREVIOUS_SECRET, JWT_PREVIOUS_PUBLIC_KEY_FILE) still verifies the tokens
 * it signed, and only those. A token without `kid` (signed before key ids, or by an issuer that
 * writes none) is checked against each key, current first (see keyForUnnamed).
 */
export class JwtKeys {
  /** The key id of the signing key, written into every token's header. */
  readonly keyId: string;
  private readonly byId: ReadonlyMap<string, KeyObject>;
  /**
   * Built once: exporting an RSA key as a JWK took about 0.4 ms a key (Node 24, this 2-core
   * machine), on every request for the key set, which any caller may send without a credential.
   */
  private readonly keySet: JsonWebKeySet | undefined;

  constructor(
    readonly algorithm: JwtAlgorithm,
    readonly signingKey: KeyObject,
    readonly verificationKey: KeyObject,
    previous?: KeyObject,
  ) {
    this.keyId = keyId(verificationKey);
    // The current key first: the order in which the key set publishes them.
    this.byId = new Map([
      [this.keyId, verificationKey],
      ...(previous ? [[keyId(previous), previous] as const] : []),
    ]);
    this.keySet = algorithm === JwtAlgorithm.RS256 ? rsaKeySet(algorithm, this.byId) : undefined;
  }

  /**
   * The keys that verify this service's tokens as a JWK Set (RFC 7517), for other services that
   * verify them: with RS256 the current public key and the previous one, each under the `kid` its
   * tokens name. None with HS256: its key is the shared secret, never published.
   */
  publicKeySet(): JsonWebKeySet | undefined {
    return this.keySet;
  }

  /**
   * The key that verifies `token`, whose header names `kid`: the key of that id; for a token that
   * names none, the key whose signature it carries (keyForUnnamed).
   */
  verificationKeyFor(kid: unknown, token: string): KeyObject | undefined {
    if (kid === undefined) return this.keyForUnnamed(token);
    return typeof kid === 'string' ? this.byId.get(kid) : undefined;
  }

  /**
   * A token without `kid`, issued by a version before key ids or by an issuer that writes none:
   * during a rotation it may carry the previous key's signature, and is accepted as one under
   * that key's id is. Every key's signature is computed, whichever matches (so the time taken
   * says nothing of which did), and the first that matches, current first, is the key; with none,
   * the current key, which then refuses the token as a bad signature.
   */
  private keyForUnnamed(token: string): KeyObject {
    const keys = [...this.byId.values()];
    if (keys.length === 1) return this.verificationKey;
    const matches = keys.map((key) => signatureMatches(this.algorithm, token, key));
    return keys[matches.indexOf(true)] ?? this.verificationKey;
  }
}

/** RSA public keys as a JWK Set, each under its `kid`. */
function rsaKeySet(alg: JwtAlgorithm, byId: ReadonlyMap<string, KeyObject>): JsonWebKeySet {
  return {
    keys: [...byId].map(([kid, key]) => {
      const { kty, n, e } = key.export({ format: 'jwk' });
      return { kty: kty!, use: 'sig', alg, kid, n: n!, e: e! };
    }),
  };
}

/** Whether a compact JWT's signature is `key`'s over its header and payload; false if malformed. */
function signatureMatches(algorithm: JwtAlgorithm, token: string, key: KeyObject): boolean {
  const parts = token.split('.');
  if (parts.length !== 3) return false;
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2], 'base64url');
  try {
    if (algorithm === JwtAlgorithm.RS256) return verify('sha256', signed, key, signature);
    const expected = createHmac('sha256', key).update(signed).digest();
    return expected.length === signature.length && timingSafeEqual(expected, signature);
  } catch {
    return false;
  }
}

/** A public key as RFC 7517 and RFC 7518 §6.3.1 write it, for RS256 signatures. */
export interface PublicJsonWebKey {
  kty: string;
  use: 'sig';
  alg: JwtAlgorithm;
  kid: string;
  /** Modulus, base64url. */
  n: string;
  /** Public exponent, base64url. */
  e: string;
}

export interface JsonWebKeySet {
  keys: PublicJsonWebKey[];
}

/**
 * A key's public name: 16 base64url characters of a SHA-256 over its public (or secret) bytes,
 * prefixed so that the hash of a secret is never that of any other use of it. Says nothing a
 * token's own signature does not: guessing a weak secret offline is as easy from either.
 */
export function keyId(key: KeyObject): string {
  const bytes = key.type === 'secret' ? key.export() : key.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update('jwt-key-id\0').update(bytes).digest('base64url').slice(0, 16);
}

const DEV_SECRET_FILE = 'jwt-secret';

/**
 * HS256 with JWT_SECRET; outside production without one, a random secret generated once and kept
 * in DATA_DIR (mode 0600) so restarts keep sessions. RS256 with the configured PEM key pair,
 * checked at start-up: each file must hold an RSA key of its kind, and the two must be a pair, so
 * a wrong file stops the start instead of failing every login or every token.
 */
export function loadJwtKeys(config: AuthConfig): JwtKeys {
  if (config.JWT_ALGORITHM === JwtAlgorithm.RS256) return loadRsaPair(config);
  const previous = config.JWT_PREVIOUS_SECRET && secretKey(config.JWT_PREVIOUS_SECRET);
  if (config.JWT_SECRET) return hs256(config.JWT_SECRET, previous);
  if (config.NODE_ENV === NodeEnv.Production)
    throw new Error('JWT_SECRET is required in production');
  return hs256(developmentSecret(config.DATA_DIR, DEV_SECRET_FILE, 'JWT_SECRET'), previous);
}

const secretKey = (secret: string): KeyObject => createSecretKey(Buffer.from(secret, 'utf8'));

function hs256(secret: string, previous: KeyObject | '' | undefined): JwtKeys {
  const key = secretKey(secret);
  return new JwtKeys(JwtAlgorithm.HS256, key, key, previous || undefined);
}

function loadRsaPair(config: AuthConfig): JwtKeys {
  const privateKey = rsaKey('JWT_PRIVATE_KEY_FILE', config.JWT_PRIVATE_KEY_FILE!, 'private');
  const publicKey = rsaKey('JWT_PUBLIC_KEY_FILE', config.JWT_PUBLIC_KEY_FILE!, 'public');
  const spki = (key: KeyObject) => key.export({ type: 'spki', format: 'der' });
  if (!spki(createPublicKey(privateKey)).equals(spki(publicKey)))
    throw new Error(
      'JWT_PUBLIC_KEY_FILE is not the public key of JWT_PRIVATE_KEY_FILE: tokens signed with one ' +
        'would not verify with the other',
    );
  const previous = config.JWT_PREVIOUS_PUBLIC_KEY_FILE
    ? rsaKey('JWT_PREVIOUS_PUBLIC_KEY_FILE', config.JWT_PREVIOUS_PUBLIC_KEY_FILE, 'public')
    : undefined;
  return new JwtKeys(JwtAlgorithm.RS256, privateKey, publicKey, previous);
}

function rsaKey(setting: string, path: string, kind: 'private' | 'public'): KeyObject {
  let key: KeyObject;
  try {
    const pem = readFileSync(path);
    key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new Error(`${setting} (${path}) is not a readable PEM ${kind} key: ${reason}`);
  }
  if (key.asymmetricKeyType !== 'rsa')
    throw new Error(
      `${setting} (${path}) holds an ${key.asymmetricKeyType ?? 'unknown'} key; RS256 needs RSA`,
    );
  return key;
}
