import { readFileSync } from 'node:fs';
import { developmentSecret } from '../common/secrets/development-secret';
import { JwtAlgorithm, NodeEnv } from '../config/env.validation';
import type { AuthConfig } from './auth.config';

/** How tokens are signed and verified; exactly one algorithm is ever accepted. */
export class JwtKeys {
  constructor(
    readonly algorithm: JwtAlgorithm,
    readonly signingKey: string | Buffer,
    readonly verificationKey: string | Buffer,
  ) {}
}

const DEV_SECRET_FILE = 'jwt-secret';

/**
 * HS256 with JWT_SECRET; outside production without one, a random secret generated once and kept
 * in DATA_DIR (mode 0600) so restarts keep sessions. RS256 with the configured PEM key pair.
 */
export function loadJwtKeys(config: AuthConfig): JwtKeys {
  if (config.JWT_ALGORITHM === JwtAlgorithm.RS256) {
    const privateKey = readFileSync(config.JWT_PRIVATE_KEY_FILE!);
    const publicKey = readFileSync(config.JWT_PUBLIC_KEY_FILE!);
    return new JwtKeys(JwtAlgorithm.RS256, privateKey, publicKey);
  }
  if (config.JWT_SECRET)
    return new JwtKeys(JwtAlgorithm.HS256, config.JWT_SECRET, config.JWT_SECRET);
  if (config.NODE_ENV === NodeEnv.Production)
    throw new Error('JWT_SECRET is required in production');

  const secret = developmentSecret(config.DATA_DIR, DEV_SECRET_FILE, 'JWT_SECRET');
  return new JwtKeys(JwtAlgorithm.HS256, secret, secret);
}
