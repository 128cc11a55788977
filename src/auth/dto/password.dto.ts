import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { IsNotEmpty, IsString, MinLength } from 'class-validator';
import { MaxLength } from '../../common/http/max-length';

/** The longest password anyone may send: a login cannot be made to hash megabytes. */
const MAX_PASSWORD_LENGTH = 1024;
/** The shortest password that may be set. */
const MIN_NEW_PASSWORD_LENGTH = 12;

/**
 * The rule for a password being set, wherever it is (a user created or changed by an admin, the
 * CLI, a user changing their own): 12 to 1024 characters.
 */
export function NewPassword(): PropertyDecorator {
  return applyDecorators(
    ApiProperty({
      type: 'string',
      minLength: MIN_NEW_PASSWORD_LENGTH,
      maxLength: MAX_PASSWORD_LENGTH,
    }),
    // In the order the decorators stood on the property before (applied bottom up), so that the
    // messages of a refusal come in the same order as they did.
    MaxLength(MAX_PASSWORD_LENGTH),
    MinLength(MIN_NEW_PASSWORD_LENGTH),
    IsString(),
  );
}

/** The rule for a password being proved (a login, the current one): any, up to 1024 characters. */
export function GivenPassword(): PropertyDecorator {
  return applyDecorators(
    ApiProperty({ type: 'string', minLength: 1, maxLength: MAX_PASSWORD_LENGTH }),
    MaxLength(MAX_PASSWORD_LENGTH),
    IsNotEmpty(),
    IsString(),
  );
}

export class ChangePasswordDto {
  /** Your password now, as you log in with it. */
  @GivenPassword()
  current_password!: string;

  /** The new password: 12-1024 characters, as when an administrator sets one. */
  @NewPassword()
  new_password!: string;
}
