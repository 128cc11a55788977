import { ApiProperty } from '@nestjs/swagger';
import { Role, Scope } from '../roles';

export class OrganizationSummaryDto {
  id!: string;
  name!: string;
  slug!: string;
}

export class MeUserDto {
  id!: string;
  email!: string;
  username!: string;
  full_name!: string;
}

export class MeApiKeyDto {
  id!: string;
  name!: string;
  prefix!: string;
}

/** The authenticated caller. */
export class MeDto {
  @ApiProperty({ enum: ['user', 'api_key'] })
  type!: 'user' | 'api_key';

  @ApiProperty({ enum: Role })
  role!: Role;

  @ApiProperty({ enum: Scope, isArray: true })
  scopes!: Scope[];

  organization!: OrganizationSummaryDto;

  /** Present when the caller is a user. */
  user?: MeUserDto;

  /** Present when the caller is an API key. */
  api_key?: MeApiKeyDto;
}
