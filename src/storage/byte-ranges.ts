/**
 * A `Range` header as RFC 9110 (14.1.2) writes a set of byte ranges (`bytes=0-499`, `bytes=500-`,
 * `bytes=-500`, several separated by commas), or undefined for anything else. A server may ignore
 * a Range it cannot read (14.2): `bytes=abc` is answered with the whole file, as if it were not
 * there, where @fastify/send answered it 416 as a range past the end.
 */
export function usableByteRange(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  const equals = value.indexOf('=');
  if (equals < 0 || value.slice(0, equals).trim().toLowerCase() !== 'bytes') return undefined;
  const specs = value
    .slice(equals + 1)
    .split(',')
    .map((spec) => spec.trim())
    .filter((spec) => spec !== '');
  return specs.length > 0 && specs.every(isRangeSpec) ? value : undefined;
}

/** `first-last` (last at least first), `first-` or `-suffix`: digits only, no sign or space. */
function isRangeSpec(spec: string): boolean {
  const match = /^(\d*)-(\d*)$/.exec(spec);
  if (!match) return false;
  const [, first, last] = match;
  if (first === '') return last !== '';
  return last === '' || BigInt(last) >= BigInt(first);
}

/** IMF-fixdate (RFC 9110 5.6.7), the form of Last-Modified: `Sun, 06 Nov 1994 08:49:37 GMT`. */
export const IMF_FIXDATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * Whether a Range still applies under the request's If-Range (RFC 9110 13.1.5): its entity tag is
 * the current one by strong comparison (a weak tag never matches), or its date is the current
 * Last-Modified, to the second. Otherwise the whole representation is sent, never a part of a new
 * one that a client would splice onto the part of the old one it holds.
 */
export function ifRangeHolds(
  ifRange: string,
  current: { etag: string | undefined; lastModified: Date | undefined },
): boolean {
  const value = ifRange.trim();
  if (value.startsWith('"')) {
    return current.etag !== undefined && !current.etag.startsWith('W/') && value === current.etag;
  }
  if (!IMF_FIXDATE.test(value) || !current.lastModified) return false;
  return Math.floor(current.lastModified.getTime() / 1000) === Date.parse(value) / 1000;
}
