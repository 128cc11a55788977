/**
 * An integer form field as Django REST framework's IntegerField (the token API's) reads it: digits
 * with an optional sign, around whitespace, and a trailing decimal point with only zeros after it
 * (`2.0`, `3.`, `4.00`: its `re_decimal`, "allow e.g. '1.0' as an int, but not '1.2'"). Python's
 * requests sends a float as Python prints it, so a client whose order is the float 2.0 sends
 * `2.0`, which that service takes as 2. Up to 9 digits; anything else is left as it is, for the
 * DTO's type check to refuse (`1.5`, `1e1`, `0x10`).
 */
const DJANGO_INTEGER = /^\s*([-+]?\d{1,9})(?:\.0*)?\s*$/;

export function parseDjangoFormInteger(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const match = DJANGO_INTEGER.exec(value);
  return match ? Number(match[1]) : value;
}
