import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { EnvironmentVariables } from '../../config/env.validation';
import { JwtKeys } from '../jwt-keys';
import type { Principal } from '../principal';
import { PrincipalService } from '../principal.service';

export interface AccessTokenClaims {
  sub: string;
  org: string;
}

/**
 * `Authorization: Bearer <JWT>`. Exactly one algorithm is accepted (so neither `alg: none` nor an
 * HS256 token keyed with an RS256 public key gets through), with issuer, audience and expiry
 * checked; then the user is re-read, so a disabled or deleted user's tokens stop working.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    keys: JwtKeys,
    env: EnvironmentVariables,
    private readonly principals: PrincipalService,
  ) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKey: keys.verificationKey,
      algorithms: [keys.algorithm],
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      ignoreExpiration: false,
    });
  }

  async validate(claims: AccessTokenClaims): Promise<Principal | false> {
    if (typeof claims.sub !== 'string') return false;
    const principal = await this.principals.forUser(claims.sub);
    return principal && principal.organizationId === claims.org ? principal : false;
  }
}
