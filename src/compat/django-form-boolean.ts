/**
 * A boolean form field as the Django frameworks behind the token API and Closient read it
 * (Django REST framework's BooleanField, pydantic's bool): `true/false`, `t/f`, `yes/no`, `y/n`,
 * `on/off`, `1/0`. Read here in any case and around whitespace (more lenient than they are, which
 * no client minds); anything else is left as it is, for the DTO's type check to refuse. A client
 * of those systems that sends `t` or `y` got its boolean there, so it must here too.
 */
const TRUE = new Set(['true', 't', 'yes', 'y', 'on', '1']);
const FALSE = new Set(['false', 'f', 'no', 'n', 'off', '0']);

export function parseDjangoFormBoolean(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const word = value.trim().toLowerCase();
  return TRUE.has(word) ? true : FALSE.has(word) ? false : value;
}

/**
 * A class-transformer transform of an optional form field that reads an empty value (`order=`,
 * `is_primary=`: a form's input left blank) as not sent, as Django REST framework reads any
 * field that is not required (Field.get_value: blank and not required is `empty`), so that its
 * default applies; any other value is parsed.
 */
export const emptyAsUnsent =
  (parse: (value: unknown) => unknown) =>
  ({ value }: { value: unknown }): unknown =>
    value === '' ? undefined : parse(value);
