import type { FieldError } from '../errors/app.error';

/** Enough to show a client what to fix, without echoing a hostile body's every key. */
const MAX_REPORTED = 20;

const MESSAGE = 'must not contain the NUL character (U+0000)';

/** A key as it appears in a field path: a NUL written as `\u0000`, so the path stays readable. */
function printable(key: string): string {
  return key.replaceAll('\u0000', '\\u0000');
}

function join(parent: string, key: string): string {
  return parent ? `${parent}.${printable(key)}` : printable(key);
}

/**
 * Every field of `value` (strings, object keys, array items, at any depth) holding a NUL
 * character, as field errors (`a.b.0`). PostgreSQL refuses U+0000 in text, so a NUL that reached
 * a query would fail it (a 500); refused here, it is the client's 400. Walks with a stack rather
 * than recursion, so no input can overflow it; `root` names a value that is itself a string.
 */
export function nulCharacterErrors(value: unknown, root = ''): FieldError[] {
  const errors: FieldError[] = [];
  const pending: [unknown, string][] = [[value, root]];
  while (pending.length > 0 && errors.length < MAX_REPORTED) {
    const [current, path] = pending.pop()!;
    if (typeof current === 'string') {
      if (current.includes('\u0000')) errors.push({ field: path, message: MESSAGE });
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) pending.push([current[i], join(path, `${i}`)]);
    } else if (current !== null && typeof current === 'object') {
      const entries = Object.entries(current as Record<string, unknown>).reverse();
      for (const [key, item] of entries) {
        if (key.includes('\u0000')) errors.push({ field: join(path, key), message: MESSAGE });
        else pending.push([item, join(path, key)]);
      }
    }
  }
  return errors.slice(0, MAX_REPORTED);
}
