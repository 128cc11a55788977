import { buildMessage, ValidateBy, type ValidationOptions } from 'class-validator';

/**
 * How many characters PostgreSQL counts in `value`: its code points (a surrogate pair is one, a
 * variation selector is one of its own). Pure.
 */
export function codePointLength(value: string): number {
  let length = value.length;
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    // A high surrogate followed by a low one: one code point in two UTF-16 units.
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        length--;
        i++;
      }
    }
  }
  return length;
}

/**
 * class-validator's @MaxLength (the same name, `maxLength`, constraint and message, so that the
 * Swagger plugin documents it as `maxLength` and query classes read it as plain), but counting
 * characters as the `varchar(n)` column the value goes to does: in code points. validator.js's
 * count leaves out every variation selector (U+FE0E, U+FE0F) after a character, so 200 × "❤️"
 * passed a 200-character rule and then failed the INSERT into a varchar(200) with a 500.
 * Import this one, never class-validator's (lint refuses it).
 */
export function MaxLength(max: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'maxLength',
      constraints: [max],
      validator: {
        validate: (value) => typeof value === 'string' && codePointLength(value) <= max,
        defaultMessage: buildMessage(
          (each) => `${each}$property must be shorter than or equal to $constraint1 characters`,
          options,
        ),
      },
    },
    options,
  );
}
