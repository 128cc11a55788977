import type { FieldError } from '../errors/app.error';

/** Enough to show a client what to fix, without echoing a hostile body's every key. */
const MAX_REPORTED = 20;

export const NUL_MESSAGE = 'must not contain the NUL character (U+0000)';
export const LONE_SURROGATE_MESSAGE =
  'must be well-formed Unicode: no lone surrogate (U+D800 to U+DFFF)';

/** In unicode mode a surrogate pair is one code point: only a lone half matches. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Why `text` cannot be stored as it is, if it cannot. */
function problemOf(text: string): string | undefined {
  if (text.includes('\u0000')) return NUL_MESSAGE;
  if (LONE_SURROGATE.test(text)) return LONE_SURROGATE_MESSAGE;
  return undefined;
}

/** A key as it appears in a field path: a NUL written as `\u0000`, so the path stays readable. */
function printable(key: string): string {
  return key.replaceAll('\u0000', '\\u0000').replace(/[\uD800-\uDFFF]/gu, (half) => {
    return `\\u${half.charCodeAt(0).toString(16)}`;
  });
}

function join(parent: string, key: string): string {
  return parent ? `${parent}.${printable(key)}` : printable(key);
}

/**
 * Every field of `value` (strings, object keys, array items, at any depth) holding text that
 * cannot be stored as sent, as field errors (`a.b.0`):
 * - a NUL character: PostgreSQL refuses U+0000 in text, so it would fail the query (a 500);
 * - a lone UTF-16 surrogate (`"\ud800"` in JSON): not Unicode text. Written to the database it
 *   would silently become U+FFFD, and some checks (class-validator's IsEmail) throw on it.
 * Refused here, either is the client's 400. Walks with a stack rather than recursion, so no input
 * can overflow it; `root` names a value that is itself a string.
 */
export function unstorableCharacterErrors(value: unknown, root = ''): FieldError[] {
  const errors: FieldError[] = [];
  const pending: [unknown, string][] = [[value, root]];
  while (pending.length > 0 && errors.length < MAX_REPORTED) {
    const [current, path] = pending.pop()!;
    if (typeof current === 'string') {
      const message = problemOf(current);
      if (message) errors.push({ field: path, message });
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) pending.push([current[i], join(path, `${i}`)]);
    } else if (current !== null && typeof current === 'object') {
      const entries = Object.entries(current as Record<string, unknown>).reverse();
      for (const [key, item] of entries) {
        const message = problemOf(key);
        if (message) errors.push({ field: join(path, key), message });
        else pending.push([item, join(path, key)]);
      }
    }
  }
  return errors.slice(0, MAX_REPORTED);
}
