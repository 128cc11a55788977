/** Closient's shortuuid alphabet: 57 characters without look-alikes (0, 1, I, O, l). */
export const SHORT_ID_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
export const SHORT_ID_LENGTH = 22;
export const SHORT_ID_PATTERN = `^[${SHORT_ID_ALPHABET}]{${SHORT_ID_LENGTH}}$`;
/** What an id in a path may be (a regular expression's source): the short form, or the UUID. */
export const ID_OR_UUID_PATTERN =
  `^([${SHORT_ID_ALPHABET}]{${SHORT_ID_LENGTH}}|` +
  '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$';

const BASE = SHORT_ID_ALPHABET.length;
const SHORT_ID = new RegExp(SHORT_ID_PATTERN);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LIMB = 2 ** 32;
/** Each character's digit (its index in the alphabet), by char code; -1 for anything else. */
const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE; i++) DIGIT[SHORT_ID_ALPHABET.charCodeAt(i)] = i;

/**
 * A UUID as the 22-character shortuuid shown on the wire (Python shortuuid's encoding: the
 * 128-bit number in base 57, most significant digit first, left-padded with the first letter).
 * Every response names ids this way (a gallery page, twenty), so the last few thousand are kept,
 * and the number is divided as four 32-bit limbs in plain numbers (each step below 57 × 2^32,
 * exact in a double) rather than as a BigInt, which took three times as long.
 */
export function encodeShortId(uuid: string): string {
  let short = encoded.get(uuid);
  if (short === undefined) {
    if (!UUID.test(uuid)) throw new Error(`not a UUID: ${uuid}`);
    short = toBase57(uuid);
    if (encoded.size >= ENCODED_KEPT) encoded.clear();
    encoded.set(uuid, short);
  }
  return short;
}

/** The short forms of the UUIDs encoded last (a pure function's results: never stale). */
const encoded = new Map<string, string>();
const ENCODED_KEPT = 10_000;

function toBase57(uuid: string): string {
  const limbs = [
    parseInt(uuid.slice(0, 8), 16),
    parseInt(uuid.slice(9, 13) + uuid.slice(14, 18), 16),
    parseInt(uuid.slice(19, 23) + uuid.slice(24, 28), 16),
    parseInt(uuid.slice(28, 36), 16),
  ];
  // 57^22 > 2^128: 22 digits, the leading zeros being the first letter (the padding).
  const digits = new Array<string>(SHORT_ID_LENGTH);
  for (let d = SHORT_ID_LENGTH - 1; d >= 0; d--) {
    let rest = 0;
    for (let i = 0; i < 4; i++) {
      const value = rest * LIMB + limbs[i];
      limbs[i] = Math.floor(value / BASE);
      rest = value - limbs[i] * BASE;
    }
    digits[d] = SHORT_ID_ALPHABET[rest];
  }
  return digits.join('');
}

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');

/**
 * The UUID behind an id as a client may send it: a shortuuid or a canonical UUID (any case).
 * Returns undefined for anything else, including shortuuids too large to be a UUID.
 */
export function decodeId(id: string): string | undefined {
  if (UUID.test(id)) return id.toLowerCase();
  if (!SHORT_ID.test(id)) return undefined;
  // n = n × 57 + digit on four 32-bit limbs, least significant last; a carry out is past 2^128.
  const limbs = [0, 0, 0, 0];
  for (let c = 0; c < id.length; c++) {
    let carry = DIGIT[id.charCodeAt(c)];
    for (let i = 3; i >= 0; i--) {
      const value = limbs[i] * BASE + carry;
      carry = Math.floor(value / LIMB);
      limbs[i] = value - carry * LIMB;
    }
    if (carry > 0) return undefined;
  }
  const hex = limbs.map(hex8).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
