import { Controller, Get, Header, Headers, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AppError } from '../common/errors/app.error';
import { unlessNotModified } from '../common/http/not-modified';
import { ApiProblems } from '../openapi/problems';
import { Public } from './decorators';
import { JsonWebKeySetDto } from './dto/jwks.dto';
import { JwtKeys } from './jwt-keys';

export const JWKS_PATH = '.well-known/jwks.json';

/** The `ETag` of the key set, as the OpenAPI document shows it (see common/http/not-modified.ts). */
const JWKS_ETAG = {
  description:
    'A weak entity tag of the key set: send it back as If-None-Match once the 5 minutes are up.',
  schema: { type: 'string', pattern: '^W/"[A-Za-z0-9_-]{22}"$' },
};

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
      '(`Access-Control-Allow-Origin: *`); cacheable for 5 minutes, then revalidated with its ' +
      '`ETag` (`If-None-Match`: 304 while the keys are the same). With HS256 (a shared ' +
      'secret, never published) `404 route_not_found`.',
  })
  @ApiHeader({
    name: 'If-None-Match',
    required: false,
    description:
      'The `ETag` of the key set as you last read it (weak or not), a comma-separated list of ' +
      'such tags, or `*`: 304 with no body while the keys are the same.',
    schema: { type: 'string' },
  })
  @ApiResponse({
    status: 200,
    description: 'The JWK Set (RS256)',
    type: JsonWebKeySetDto,
    headers: { ETag: JWKS_ETAG },
  })
  @ApiResponse({
    status: 304,
    description: 'Not Modified: the key set If-None-Match names is current (no body).',
    headers: { ETag: JWKS_ETAG },
  })
  @ApiProblems('route_not_found')
  keySet(
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): JsonWebKeySetDto | undefined {
    const set = this.keys.publicKeySet();
    if (!set) throw new AppError('route_not_found', `No route matches GET /${JWKS_PATH}.`);
    // Revalidated as the other cacheable reads are (an image's): 304 while the keys are the same.
    return unlessNotModified(reply, set, ifNoneMatch);
  }
}
