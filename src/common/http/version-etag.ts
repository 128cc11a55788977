/**
 * A version as HTTP carries it (a gallery's, a product's): the `ETag` of responses and the
 * `If-Match` of changes (optimistic concurrency: a change made against an older version answers
 * 412).
 */

/**
 * The largest version read (versions are drawn from one `bigint` sequence, read as JavaScript
 * numbers): larger ones never match.
 */
const MAX_VERSION = Number.MAX_SAFE_INTEGER;

/**
 * A version as the API hands it out: in a body (`5`), as an ETag (`"5"`, or `"p5"` for a
 * resource whose ETags carry a prefix) or weak.
 */
function versionPattern(prefix: string): RegExp {
  return new RegExp(`^(?:(?:W/)?"${prefix}(0|[1-9]\\d{0,15})"|(0|[1-9]\\d{0,15}))$`);
}

const VERSIONS = new Map<string, RegExp>();

/**
 * If-Match as the versions it names; undefined for none or `*` (anything matches).
 *
 * Lenient on purpose: besides the strong ETag the API sends (`"5"`), it takes the `version` as
 * bodies show it (`5`) and weak tags (`W/"5"`, as proxies that re-compress rewrite them), alone
 * or in a comma-separated list. An element that is none of these can never match; a header with
 * no usable element answers 412 (the version -1 exists nowhere).
 */
export function parseIfMatch(header: string | undefined, prefix = ''): number[] | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  let pattern = VERSIONS.get(prefix);
  if (pattern === undefined) VERSIONS.set(prefix, (pattern = versionPattern(prefix)));
  const versions: number[] = [];
  for (const element of listElements(header)) {
    const version = pattern.exec(element);
    const value = version ? Number(version[1] ?? version[2]) : NaN;
    if (value <= MAX_VERSION) versions.push(value);
  }
  return versions.length > 0 ? versions : [-1];
}

/**
 * The elements of a comma-separated list, trimmed, a comma inside an entity tag's quotes being
 * part of it (an unbalanced quote runs to the end). One pass over the characters: the regular
 * expression this replaced backtracked on a run of spaces before a stray quote (`0,` + 2,500
 * spaces + `"` held the event loop for 9 s; 16 KB of header, for hours).
 */
function listElements(header: string): string[] {
  const elements: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < header.length; i += 1) {
    const char = header.charCodeAt(i);
    if (char === 0x22) quoted = !quoted;
    else if (char === 0x2c && !quoted) {
      elements.push(header.slice(start, i).trim());
      start = i + 1;
    }
  }
  elements.push(header.slice(start).trim());
  return elements;
}

/**
 * A version as a strong entity tag: `"7"`, or `"p7"` with a prefix (a product's, so that it is
 * never taken for a gallery's version of the same number).
 */
export function versionEtag(version: number, prefix = ''): string {
  return `"${prefix}${version}"`;
}
