import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { isUUID } from 'class-validator';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { AUTH_CONFIG, type AuthConfig } from '../auth.config';
import { JwtKeys } from '../jwt-keys';
import type { Principal } from '../principal';
import { PrincipalService } from '../principal.service';
import type { TokenSession } from '../sessions';

export const JWT_STRATEGY = 'jwt';

type KeyCallback = (error: Error | null, key?: Buffer) => void;

/** A compact JWT's header, or undefined when it is not one; its signature is checked later. */
function tokenHeader(token: string): { kid?: unknown; crit?: unknown } | undefined {
  try {
    const header: unknown = JSON.parse(Buffer.from(token.split('.', 1)[0], 'base64url').toString());
    return typeof header === 'object' && header !== null ? header : undefined;
  } catch {
    return undefined;
  }
}

export interface AccessTokenClaims {
  sub: string;
  org: string;
  /** The user's session generation when the token was issued (see sessions.ts). */
  gen: number;
}

/**
 * `Authorization: Bearer <JWT>`. Exactly one algorithm is accepted (so neither `alg: none` nor an
 * HS256 token keyed with an RS256 public key gets through), with issuer, audience and expiry
 * checked (expiry and `nbf` with JWT_CLOCK_TOLERANCE_SECONDS of allowance for clock skew); then the user is re-read, so a disabled or deleted user's tokens stop working.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, JWT_STRATEGY) {
  constructor(
    keys: JwtKeys,
    @Inject(AUTH_CONFIG) private readonly config: AuthConfig,
    private readonly principals: PrincipalService,
  ) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      // The key the token's `kid` names (see JwtKeys), a parsed KeyObject: passport-jwt hands it
      // to jsonwebtoken's verify() as it is, which takes one; only its type declaration is
      // narrower. An unknown `kid` fails as a bad signature would (401); a token without one is
      // verified with the key whose signature it carries, current or previous.
      secretOrKeyProvider: (_request: unknown, token: string, done: KeyCallback) => {
        const header = tokenHeader(token);
        // RFC 7515 §4.1.11: a `crit` names extensions a verifier must understand or refuse the
        // token; this service understands none (and never signs one).
        if (header?.crit !== undefined) return done(new Error('critical header extension'));
        const key = keys.verificationKeyFor(header?.kid, token);
        if (key) done(null, key as unknown as Buffer);
        else done(new Error('unknown key id'));
      },
      algorithms: [keys.algorithm],
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      ignoreExpiration: false,
      // `exp` and `nbf` are judged by this instance's clock, which may be a few seconds off the
      // signer's: a bounded allowance (JWT_CLOCK_TOLERANCE_SECONDS, at most 5 minutes).
      // `maxAge`: a token lapses JWT_TTL_SECONDS after its `iat`, whatever `exp` it carries (and
      // one without `iat` is refused), so no token, however it was signed, is good for ever.
      jsonWebTokenOptions: {
        clockTolerance: config.JWT_CLOCK_TOLERANCE_SECONDS,
        maxAge: config.JWT_TTL_SECONDS,
      },
    });
  }

  async validate(
    claims: Partial<AccessTokenClaims> & { exp?: unknown; iat?: unknown },
  ): Promise<Principal | false> {
    // jsonwebtoken checks `exp` only when present: a token without one would never expire.
    if (typeof claims.exp !== 'number') return false;
    // Nor does it check that `iat` is past: `maxAge` counts from it, and a session's end judges a
    // token by it, so one issued in the future (an `iat` in milliseconds, a signer's slip) would
    // be good until then and outlive every logout. Allowed: the clock skew `nbf` is allowed.
    if (typeof claims.iat !== 'number' || claims.iat > nowSeconds() + this.tolerance()) {
      return false;
    }
    // Only this service's tokens are signed with its key, but a subject that is not a user id
    // must still be a 401, never a query that PostgreSQL refuses (a 500).
    if (typeof claims.sub !== 'string' || !isUUID(claims.sub)) return false;
    // Refused once its session ended (a logout, a password change): by its generation, and by
    // its `iat` (see sessionEnded; present: `maxAge` refuses a token without one).
    const session: TokenSession = {
      issuedAt: claims.iat,
      ...(Number.isSafeInteger(claims.gen) && { generation: claims.gen }),
    };
    const principal = await this.principals.forUser(claims.sub, session);
    return principal && principal.organizationId === claims.org ? principal : false;
  }

  private tolerance(): number {
    return this.config.JWT_CLOCK_TOLERANCE_SECONDS;
  }
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
