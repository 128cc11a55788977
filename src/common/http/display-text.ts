import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { ValidateBy, type ValidationOptions } from 'class-validator';

/* eslint-disable no-control-regex -- refusing control characters is the point */
/**
 * C0 controls, DEL and C1 controls, the line and paragraph separators (U+2028, U+2029: line
 * breaks), and the noncharacters U+FFFE and U+FFFF, which XML 1.0 refuses: never text a person
 * reads on one line.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufffe\uffff]/;
/** The same but the line breaks (tab, LF, CR, U+2028, U+2029), which text of several lines holds. */
const CONTROL_BUT_LINE_BREAKS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufffe\uffff]/;
/* eslint-enable no-control-regex */

/**
 * The same rules as OpenAPI `pattern`s (ECMA-262, as JSON Schema reads them), so that a client
 * validating its requests against the document refuses what the service refuses.
 */
export const DISPLAY_TEXT_PATTERN = `^[^${CONTROL.source.slice(1, -1)}]*$`;
export const MULTILINE_TEXT_PATTERN = `^[^${CONTROL_BUT_LINE_BREAKS.source.slice(1, -1)}]*$`;
/** Display text that is not blank once trimmed (a name): some character other than white space. */
export const NAME_TEXT_PATTERN = `^(?=.*\\S)${DISPLAY_TEXT_PATTERN.slice(1)}`;

/**
 * Whether `value` is text to show: no control character (C0, DEL, C1), and with `multiline`
 * tabs and line breaks allowed. Such characters are not text: XML 1.0 refuses the C0 ones (a
 * product feed built from titles would not parse), and terminals obey escapes. Pure.
 */
export function isDisplayText(value: unknown, multiline = false): boolean {
  return typeof value !== 'string' || !(multiline ? CONTROL_BUT_LINE_BREAKS : CONTROL).test(value);
}

/**
 * Text a person reads (a title, a name, alt text): `multiline` for longer text that may hold
 * tabs and line breaks (a description). Non-strings are left to @IsString.
 */
export function DisplayText(
  { multiline = false }: { multiline?: boolean } = {},
  options?: ValidationOptions,
): PropertyDecorator {
  const message = multiline
    ? '$property must not contain control characters other than tab, line feed and carriage return'
    : '$property must not contain control characters (tab and line breaks included)';
  return applyDecorators(
    ValidateBy(
      { name: 'isDisplayText', validator: { validate: (v) => isDisplayText(v, multiline) } },
      { message, ...options },
    ),
    // In the document too; an ApiProperty above this decorator (applied after it) wins.
    ApiProperty({ pattern: multiline ? MULTILINE_TEXT_PATTERN : DISPLAY_TEXT_PATTERN }),
  );
}
