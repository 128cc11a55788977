/** Closient's shortuuid alphabet: 57 characters without look-alikes (0, 1, I, O, l). */
export const SHORT_ID_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
export const SHORT_ID_LENGTH = 22;
export const SHORT_ID_PATTERN = `^[${SHORT_ID_ALPHABET}]{${SHORT_ID_LENGTH}}$`;
/** What an id in a path may be (a regular expression's source): the short form, or the UUID. */
export const ID_OR_UUID_PATTERN =
  `^([${SHORT_ID_ALPHABET}]{${SHORT_ID_LENGTH}}|` +
  '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$';

const BASE = BigInt(SHORT_ID_ALPHABET.length);
const SHORT_ID = new RegExp(SHORT_ID_PATTERN);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_UUID = (1n << 128n) - 1n;

/**
 * A UUID as the 22-character shortuuid shown on the wire (Python shortuuid's encoding: the
 * 128-bit number in base 57, most significant digit first, left-padded with the first letter).
 */
export function encodeShortId(uuid: string): string {
  if (!UUID.test(uuid)) throw new Error(`not a UUID: ${uuid}`);
  let n = BigInt('0x' + uuid.replace(/-/g, ''));
  let out = '';
  while (n > 0n) {
    out = SHORT_ID_ALPHABET[Number(n % BASE)] + out;
    n /= BASE;
  }
  return out.padStart(SHORT_ID_LENGTH, SHORT_ID_ALPHABET[0]);
}

/**
 * The UUID behind an id as a client may send it: a shortuuid or a canonical UUID (any case).
 * Returns undefined for anything else, including shortuuids too large to be a UUID.
 */
export function decodeId(id: string): string | undefined {
  if (UUID.test(id)) return id.toLowerCase();
  if (!SHORT_ID.test(id)) return undefined;
  let n = 0n;
  for (const ch of id) n = n * BASE + BigInt(SHORT_ID_ALPHABET.indexOf(ch));
  if (n > MAX_UUID) return undefined;
  const hex = n.toString(16).padStart(32, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
