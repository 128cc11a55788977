import { Transform } from 'class-transformer';

/**
 * Form fields (multipart, urlencoded) arrive as text, spelled as each client spells them: Python's
 * requests sends `True`, HTML checkboxes `on`, others `1` or `yes`. These read such text as the
 * value it stands for and leave anything else as it is, for the DTO's type check to refuse.
 * JSON bodies are typed already and do not use them.
 */

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/** `true/false`, `1/0`, `yes/no`, `on/off`, in any case, around whitespace: a boolean. */
export function parseFormBoolean(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const word = value.trim().toLowerCase();
  return TRUE.has(word) ? true : FALSE.has(word) ? false : value;
}

/** Digits, with an optional sign and surrounding whitespace: an integer (up to 9 digits). */
export function parseFormInteger(value: unknown): unknown {
  if (typeof value !== 'string' || !/^\s*[-+]?\d{1,9}\s*$/.test(value)) return value;
  return Number(value.trim());
}

/**
 * Decimal digits only (up to 15, exact as a number): an integer; anything else as it is. For
 * query parameters (`?page=2`), where `Number()` would read `0x10`, `1e1`, `0b11`, `+1` or ` 1`
 * as numbers too, and land a garbled parameter on another page.
 */
export function parseQueryInteger(value: unknown): unknown {
  return typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : value;
}

/** `@FormBoolean() @IsBoolean() flag?: boolean` on a DTO of form fields. */
export const FormBoolean = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) => parseFormBoolean(value));

/** `@FormInteger() @IsInt() count?: number` on a DTO of form fields. */
export const FormInteger = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) => parseFormInteger(value));

/** `@QueryInteger() @IsInt() page?: number` on a query DTO. */
export const QueryInteger = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) => parseQueryInteger(value));
