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
