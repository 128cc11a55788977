import { ApiProperty } from '@nestjs/swagger';

/** One public key that verifies this service's tokens (RFC 7517, RFC 7518 §6.3.1). */
export class JsonWebKeyDto {
  @ApiProperty({ enum: ['RSA'] })
  kty!: string;

  @ApiProperty({ enum: ['sig'] })
  use!: 'sig';

  @ApiProperty({ enum: ['RS256'] })
  alg!: string;

  /** The key id a token names in its `kid` header: the key that verifies it. */
  @ApiProperty({ example: 'pY3h0cXf2kQm9LwA' })
  kid!: string;

  /** The modulus, base64url. */
  @ApiProperty({ example: 'u1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0_Iz…' })
  n!: string;

  /** The public exponent, base64url. */
  @ApiProperty({ example: 'AQAB' })
  e!: string;
}

/** The JWK Set: the current signing key's public half first, then the previous one's, if any. */
export class JsonWebKeySetDto {
  keys!: JsonWebKeyDto[];
}
