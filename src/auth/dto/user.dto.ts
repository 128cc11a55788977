import { ApiProperty, PartialType, PickType } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { EmptyOrNameText } from '../../common/http/display-text';
import { IsBoolean, IsEmail, IsEnum, IsString, Matches } from 'class-validator';
import { MaxLength } from '../../common/http/max-length';
import { Optional, Trimmed } from '../../common/http/validation';
import { PageMetaDto } from '../../common/pagination/page.dto';
import { encodeShortId } from '../../common/ids/short-id';
import type { User } from '../entities/user.entity';
import { canonicalEmail, VisibleEmail } from '../email-address';
import { Role } from '../roles';
import { NewPassword } from './password.dto';

export class CreateUserDto {
  @ApiProperty({
    // Not `email`, which is ASCII-only: a UTF-8 local part and an internationalised domain
    // (jörg@bücher.example) are accepted.
    format: 'idn-email',
    description:
      'Surrounding spaces are trimmed; then stored lower-cased, composed (NFC), its domain as ' +
      'IDNA maps it (`xn--bcher-kva.example` is `bücher.example`); the rules check that form. ' +
      'Internationalised addresses (`jörg@bücher.example`) are accepted.',
  })
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? canonicalEmail(value) : value,
  )
  @IsEmail()
  @MaxLength(320)
  @VisibleEmail()
  email!: string;

  /** 3-150 letters, digits, `.`, `_` or `-`. */
  @Matches(/^[A-Za-z0-9._-]{3,150}$/, {
    message: 'username must be 3-150 letters, digits, ".", "_" or "-"',
  })
  username!: string;

  @Optional()
  @Trimmed()
  @IsString()
  @MaxLength(200)
  @EmptyOrNameText()
  full_name?: string;

  /** 12-1024 characters. */
  @NewPassword()
  password!: string;

  @ApiProperty({ enum: Role })
  @IsEnum(Role)
  role!: Role;
}

export class UpdateUserDto extends PartialType(
  PickType(CreateUserDto, ['full_name', 'password', 'role'] as const),
  { skipNullProperties: false },
) {
  /** A disabled user cannot log in, and their tokens stop working at once. */
  @Optional()
  @IsBoolean()
  disabled?: boolean;
}

export class UserDto {
  id!: string;
  email!: string;
  username!: string;
  full_name!: string;

  @ApiProperty({ enum: Role })
  role!: Role;

  disabled!: boolean;
  organization_id!: string;
  created_at!: Date;
  updated_at!: Date;

  static from(user: User): UserDto {
    return {
      id: encodeShortId(user.id),
      email: user.email,
      username: user.username,
      full_name: user.fullName,
      role: user.role,
      disabled: user.disabled,
      organization_id: encodeShortId(user.organizationId),
      created_at: user.createdAt,
      updated_at: user.updatedAt,
    };
  }
}

export class UserPageDto extends PageMetaDto {
  items!: UserDto[];
}
