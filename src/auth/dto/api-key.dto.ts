import { ApiProperty } from '@nestjs/swagger';
import { DateTime } from '../../common/http/date-time';
import { ArrayUnique, IsArray, IsEnum, IsNotEmpty, IsString } from 'class-validator';
import { MaxLength } from '../../common/http/max-length';
import { Optional, Trimmed } from '../../common/http/validation';
import { encodeShortId } from '../../common/ids/short-id';
import { PageMetaDto } from '../../common/pagination/page.dto';
import type { ApiKey } from '../entities/api-key.entity';
import { Role, Scope } from '../roles';
import { NAME_TEXT_PATTERN, NameText } from '../../common/http/display-text';

export class CreateApiKeyDto {
  @ApiProperty({
    minLength: 1,
    // Checked once trimmed: showing something (not blank, not only invisible), no control character.
    pattern: NAME_TEXT_PATTERN,
    description: 'What the key is for, e.g. "PIM import job". Surrounding white space is trimmed.',
  })
  @Trimmed()
  @IsString()
  @IsNotEmpty()
  @MaxLength(100)
  @NameText()
  name!: string;

  /** The role the key acts as (default `staff`). */
  @ApiProperty({ enum: Role, required: false, default: Role.Staff })
  @Optional()
  @IsEnum(Role)
  role?: Role;

  /** Scopes of the key; at most the role's (the default). */
  @ApiProperty({ enum: Scope, isArray: true, required: false })
  @Optional()
  @IsArray()
  @ArrayUnique()
  @IsEnum(Scope, { each: true })
  scopes?: Scope[];

  @ApiProperty({
    required: false,
    // A bare date is accepted too (midnight UTC), and clients send one. A string, not the
    // plugin's Date (`format: date-time` beside the anyOf would refuse the date).
    type: 'string',
    anyOf: [
      { type: 'string', format: 'date-time' },
      { type: 'string', format: 'date' },
    ],
    example: '2027-01-31T00:00:00Z',
    description:
      'When the key stops working: an RFC 3339 date-time, or a date alone (midnight UTC); in the ' +
      'future. Default: never; for a key made by a key that expires, when that one does, and ' +
      'never later.',
  })
  @Optional()
  @DateTime('expires_at must be an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z')
  expires_at?: Date;
}

export class ApiKeyDto {
  id!: string;
  name!: string;

  /** Public part of the key (`pis_<prefix>_…`), to tell keys apart. */
  prefix!: string;

  @ApiProperty({ enum: Role })
  role!: Role;

  @ApiProperty({ enum: Scope, isArray: true })
  scopes!: Scope[];

  /** Id of the user who created the key (null if that user was deleted or it came from the CLI). */
  created_by!: string | null;

  /**
   * Username of the user who created the key, kept after that user is disabled or deleted: a key
   * belongs to the organisation and keeps working (null if it came from the CLI).
   */
  created_by_username!: string | null;

  /**
   * Id of the API key that created this one, when a key did (null otherwise, or once that key
   * is gone). Revoking a key revokes the keys it created, and theirs.
   */
  created_by_key!: string | null;
  last_used_at!: Date | null;
  expires_at!: Date | null;
  revoked_at!: Date | null;
  created_at!: Date;

  static from(key: ApiKey): ApiKeyDto {
    return {
      id: encodeShortId(key.id),
      name: key.name,
      prefix: key.prefix,
      role: key.role,
      scopes: key.scopes,
      created_by: key.createdById ? encodeShortId(key.createdById) : null,
      created_by_username: key.createdByUsername,
      created_by_key: key.createdByKeyId ? encodeShortId(key.createdByKeyId) : null,
      last_used_at: key.lastUsedAt,
      expires_at: key.expiresAt,
      revoked_at: key.revokedAt,
      created_at: key.createdAt,
    };
  }
}

export class CreatedApiKeyDto extends ApiKeyDto {
  /** The full key. Shown once, in this response only: store it now. */
  key!: string;
}

export class ApiKeyPageDto extends PageMetaDto {
  items!: ApiKeyDto[];
}
