import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
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
/**
 * What shows as nothing on its own: white space, the default-ignorable code points (zero-width
 * space and joiners, BOM, word joiner, soft hyphen, bidi controls, variation selectors, Hangul
 * fillers), combining marks (which need a letter to sit on) and the blank Braille pattern. Each
 * has its place beside visible characters (the joiners of an emoji sequence, an accent on its e).
 */
const SHOWS_AS_NOTHING = '\\s\\p{M}\\p{Default_Ignorable_Code_Point}\\u2800';
const VISIBLE = new RegExp(`[^${SHOWS_AS_NOTHING}]`, 'u');
/**
 * Display text that shows something once trimmed (a name): a character that does not show as
 * nothing. A Unicode pattern (the u flag, as JSON Schema reads a `pattern`).
 */
export const NAME_TEXT_PATTERN = `^(?=.*[^${SHOWS_AS_NOTHING}])${DISPLAY_TEXT_PATTERN.slice(1)}`;
/**
 * Display text that is empty once trimmed (only white space, which trimming takes away) or shows
 * something, as {@link NAME_TEXT_PATTERN}: a title, an alt text, a person's full name.
 */
export const EMPTY_OR_NAME_TEXT_PATTERN = `^(?=\\s*$|.*[^${SHOWS_AS_NOTHING}])${DISPLAY_TEXT_PATTERN.slice(1)}`;
/**
 * Text of several lines (a description) that is empty or blank (stored empty: see
 * {@link EmptyOrVisibleMultilineText}), or shows something, as {@link EMPTY_OR_NAME_TEXT_PATTERN}.
 */
export const EMPTY_OR_VISIBLE_MULTILINE_TEXT_PATTERN = `^(?=\\s*$|[\\s\\S]*[^${SHOWS_AS_NOTHING}])${MULTILINE_TEXT_PATTERN.slice(1)}`;

/**
 * Whether `value` is text to show: no control character (C0, DEL, C1), and with `multiline`
 * tabs and line breaks allowed. Such characters are not text: XML 1.0 refuses the C0 ones (a
 * product feed built from titles would not parse), and terminals obey escapes. Pure.
 */
export function isDisplayText(value: unknown, multiline = false): boolean {
  return typeof value !== 'string' || !(multiline ? CONTROL_BUT_LINE_BREAKS : CONTROL).test(value);
}

/**
 * Whether `value` (a name) shows as something: a name of zero-width spaces, bidi controls or
 * lone combining marks lists as blank, looks like no name in the console and a shop's back office,
 * and cannot be told from another such name. The empty string is left to the field's own
 * not-empty rule, non-strings to @IsString. Pure.
 */
export function isVisibleText(value: unknown): boolean {
  return typeof value !== 'string' || value === '' || VISIBLE.test(value);
}

/**
 * A name: display text on one line ({@link DisplayText}) that shows as something
 * ({@link isVisibleText}); documented with {@link NAME_TEXT_PATTERN}.
 */
export function NameText(options?: ValidationOptions): PropertyDecorator {
  return visibleText(NAME_TEXT_PATTERN, 'must contain a visible character', options);
}

/**
 * Text that may be empty but, when it is not, shows something once trimmed (a title, an alt text,
 * a person's full name): display text on one line ({@link DisplayText}) that is empty or passes
 * {@link isVisibleText}; documented with {@link EMPTY_OR_NAME_TEXT_PATTERN}. An alt text of zero-width
 * spaces is no alt text to a screen reader, yet not the empty one that marks an image decorative;
 * a title or a full name of them lists as blank. Its field trims it first (@Trimmed), so that text
 * of white space only is stored empty.
 */
export function EmptyOrNameText(options?: ValidationOptions): PropertyDecorator {
  return visibleText(
    EMPTY_OR_NAME_TEXT_PATTERN,
    'must be empty or contain a visible character',
    options,
  );
}

/**
 * Text of several lines (a description) that may be empty but, when it is not, shows something:
 * {@link DisplayText} with line breaks, blank text (white space only) stored empty, and otherwise
 * {@link isVisibleText}; documented with {@link EMPTY_OR_VISIBLE_MULTILINE_TEXT_PATTERN}. A
 * description of zero-width spaces or bidi controls shows as none, yet a shop reading it would
 * take it for one. Not trimmed otherwise: its leading white space may be its layout.
 */
export function EmptyOrVisibleMultilineText(options?: ValidationOptions): PropertyDecorator {
  return applyDecorators(
    Transform(({ value }: { value: unknown }) =>
      typeof value === 'string' && value.trim() === '' ? '' : value,
    ),
    visibleText(
      EMPTY_OR_VISIBLE_MULTILINE_TEXT_PATTERN,
      'must be empty or contain a visible character',
      options,
      true,
    ),
  );
}

/** {@link DisplayText} that passes {@link isVisibleText}, documented by `pattern`. */
function visibleText(
  pattern: string,
  rule: string,
  options?: ValidationOptions,
  multiline = false,
): PropertyDecorator {
  return applyDecorators(
    DisplayText({ multiline }, options),
    ValidateBy(
      { name: 'isVisibleText', validator: { validate: isVisibleText } },
      {
        message:
          `$property ${rule}, not only white space, invisible characters (zero-width spaces, ` +
          'bidi controls…) or combining marks',
        ...options,
      },
    ),
    ApiProperty({ pattern }),
  );
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
