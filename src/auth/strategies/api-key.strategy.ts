import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { Strategy } from 'passport-custom';
import { EnvironmentVariables } from '../../config/env.validation';
import { presentedCredential } from '../credentials';
import type { Principal } from '../principal';
import { PrincipalService } from '../principal.service';

/** `X-API-Key: <key>`, `Authorization: Token <key>`, or `?x-api-key=` when enabled. */
@Injectable()
export class ApiKeyStrategy extends PassportStrategy(Strategy, 'api-key') {
  constructor(
    private readonly env: EnvironmentVariables,
    private readonly principals: PrincipalService,
  ) {
    super();
  }

  async validate(request: FastifyRequest): Promise<Principal | false> {
    const credential = presentedCredential(request, this.env.API_KEY_QUERY_PARAM);
    if (credential.kind !== 'api_key') return false;
    return (await this.principals.forApiKey(credential.key)) ?? false;
  }
}
