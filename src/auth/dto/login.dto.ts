import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsEmail, IsNotEmpty, IsString, ValidateIf } from 'class-validator';
import { MaxLength } from '../../common/http/max-length';
import { canonicalEmail } from '../email-address';
import { GivenPassword } from './password.dto';

/** What LoginDto's schema cannot say by field: it needs `email` or `username` (or both). */
export const LOGIN_IDENTIFIER_SCHEMA = {
  anyOf: [{ required: ['email'] }, { required: ['username'] }],
};

export class LoginDto {
  @ApiProperty({
    required: false,
    format: 'idn-email',
    description:
      'Either `email` or `username` identifies the account. Internationalised addresses ' +
      '(`jörg@bücher.example`) are accepted, and found whatever their case or IDNA spelling.',
  })
  // Checked in the spelling accounts are stored and found in, as CreateUserDto checks it: every
  // spelling the user's address was accepted in logs in (surrounding spaces, a full-width
  // domain), and its length is that spelling's.
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? canonicalEmail(value) : value,
  )
  @ValidateIf((dto: LoginDto) => dto.username === undefined || dto.email !== undefined)
  @IsEmail({}, { message: 'email must be an email address (or send username instead)' })
  @MaxLength(320)
  email?: string;

  @ApiProperty({ required: false, minLength: 1 })
  @ValidateIf((dto: LoginDto) => dto.email === undefined)
  @IsString()
  @IsNotEmpty()
  @MaxLength(150)
  username?: string;

  /** At most 1024 characters, so a login cannot be made to hash megabytes. */
  @GivenPassword()
  password!: string;
}

export class AccessTokenDto {
  /** A JWT for `Authorization: Bearer <access_token>`. */
  access_token!: string;

  /** The same JWT, under the name the Ocha API's clients read. */
  token!: string;

  /** Always `Bearer`. */
  token_type!: 'Bearer';

  /** Lifetime of the token, in seconds. */
  @ApiProperty({ type: 'integer', minimum: 1, example: 3600 })
  expires_in!: number;
}
