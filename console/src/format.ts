// How the console writes numbers and dates: the browser's language, units spelled out.

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function formatDate(iso: string | null | undefined): string {
  return iso ? dateTime.format(new Date(iso)) : '—';
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ['KB', 'MB', 'GB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatCount(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/**
 * Characters that can turn text around them: right-to-left letters (Hebrew, Arabic and the other
 * right-to-left scripts) and the explicit bidirectional controls (marks, embeddings, overrides,
 * isolates). Text without any cannot change how the words beside it are ordered.
 */
const BIDI_SENSITIVE =
  // U+10800–U+10FFF and U+1E800–U+1EFFF as surrogate pairs: a `u` regular expression is bundled
  // as a much longer one for older browsers.
  /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefe\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|[\ud802\ud803\ud83a\ud83b][\udc00-\udfff]/;

/**
 * A stored text (a name, a file name) isolated for a plain-text context that holds more than it
 * (a status message, the document's title), as `<bdi>` isolates it in the page: between
 * FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE, so that a right-to-left override (U+202E) or
 * right-to-left letters in it order only it, never the sentence around it. Its own isolates are
 * balanced first (a lone PDI in it would end the isolate early; one it opens is closed), and a text
 * that could not turn anything around is left as it is.
 */
export function isolate(text: string): string {
  if (!BIDI_SENSITIVE.test(text)) return text;
  let open = 0;
  let balanced = '';
  for (const char of text) {
    if (char >= '\u2066' && char <= '\u2068') open += 1;
    else if (char === '\u2069') {
      if (open === 0) continue;
      open -= 1;
    }
    balanced += char;
  }
  return `\u2068${balanced}${'\u2069'.repeat(open)}\u2069`;
}

/** A stored name in quotation marks, isolated (see {@link isolate}): “Blue shoe”. */
export function quoted(name: string): string {
  return `“${isolate(name)}”`;
}
