import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AppError } from '../common/errors/app.error';
import { ApiProblems } from '../openapi/problems';
import { Public } from './decorators';
import { JsonWebKeySetDto } from './dto/jwks.dto';
import { JwtKeys } from './jwt-keys';

export const JWKS_PATH = '.well-known/jwks.json';

/**
 * `GET /.well-known/jwks.json`: the public keys that verify this service's tokens, for the other
 * services that accept them. With HS256 there is no public key (the key is the shared secret): the
 * route answers as an unknown one does.
 */
@Public()
@ApiTags('auth')
@Controller()
export class JwksController {
  constructor(private readonly keys: JwtKeys) {}

  @Get(JWKS_PATH)
  // Public keys, the same for every caller; a rotation is seen within 5 minutes, far less than
  // the JWT_TTL_SECONDS a previous key stays published for.
  @Header('Cache-Control', 'public, max-age=300')
  // Readable by a page of any origin (a verifier in a browser), whatever CORS_ORIGINS opens the
  // API to: public keys, asked for without a credential, and answered alike to every caller.
  @Header('Access-Control-Allow-Origin', '*')
  @ApiOperation({
    operationId: 'getJsonWebKeySet',
    summary: 'The public keys that verify the access tokens (JWK Set)',
    description:
      'With `JWT_ALGORITHM=RS256`: the public key of the pair that signs tokens, and the previous ' +
      "one (`JWT_PREVIOUS_PUBLIC_KEY_FILE`) while it is set, each under the `kid` its tokens' " +
      'header names (RFC 7517). No credential, readable from any origin ' +
      '(`Access-Control-Allow-Origin: *`); cacheable for 5 minutes. With HS256 (a shared ' +
      'secret, never published) `404 route_not_found`.',
  })
  @ApiOkResponse({ description: 'The JWK Set (RS256)', type: JsonWebKeySetDto })
  @ApiProblems('route_not_found')
  keySet(): JsonWebKeySetDto {
    const set = this.keys.publicKeySet();
    if (!set) throw new AppError('route_not_found', `No route matches GET /${JWKS_PATH}.`);
    return set;
  }
}
