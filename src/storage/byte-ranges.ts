import { parseHttpDate } from './http-date';

/**
 * The one byte range a `Range` header asks for, as RFC 9110 (14.1.2) writes it (`bytes=0-499`,
 * `bytes=500-`, `bytes=-500`), written plainly (`bytes=<range>`); undefined for anything else. A
 * server may ignore a Range (14.2): one it cannot read (`bytes=abc`, which @fastify/send answered
 * 416 as a range past the end), and a set of several, which every storage answers whole (S3
 * serves one range, and /media would serve part of what was asked when some of them fail).
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
  return specs.length === 1 && isRangeSpec(specs[0]) ? `bytes=${specs[0]}` : undefined;
}

/** `first-last` (last at least first), `first-` or `-suffix`: digits only, no sign or space. */
function isRangeSpec(spec: string): boolean {
  const match = /^(\d*)-(\d*)$/.exec(spec);
  if (!match) return false;
  const [, first, last] = match;
  if (first === '') return last !== '';
  return last === '' || BigInt(last) >= BigInt(first);
}

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
  const date = parseHttpDate(value);
  if (date === undefined || !current.lastModified) return false;
  return Math.floor(current.lastModified.getTime() / 1000) === date / 1000;
}
