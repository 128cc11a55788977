import { crc32, inflateSync } from 'node:zlib';
import { invalidImage } from '../image-problems';
import { isIccProfile } from './icc-profile';
import { minimalExif, needsOrientation } from './minimal-exif';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/**
 * Ancillary chunks that change how the pixels look (colour, transparency, gamma, the pixel aspect
 * ratio): kept, each at most the length the PNG specification gives it (its data is that long, or
 * shorter where the colour type decides: see BY_COLOUR_TYPE). One longer carries more than the decoder reads, a
 * payload the stored original would hand out: it goes, as a decoder would ignore it. Every other
 * ancillary chunk goes: text (tEXt, zTXt, iTXt, XMP among them), eXIf, tIME, and APNG's
 * animation chunks (the decoder shows the still image, so the original is that). iCCP: see
 * keptProfile.
 */
const KEPT_ANCILLARY = new Map<string, number>([
  ['tRNS', 256],
  ['gAMA', 4],
  ['cHRM', 32],
  ['sRGB', 1],
  ['iCCP', Infinity],
  ['cICP', 4],
  ['mDCV', 24],
  ['cLLI', 8],
  ['sBIT', 4],
  ['pHYs', 9],
  ['bKGD', 6],
]);

/**
 * The longest tRNS, bKGD and sBIT each colour type gives (PNG specification, 11.3): by colour type
 * 0 (grey), 2 (RGB), 3 (palette), 4 (grey and alpha) and 6 (RGBA); a tRNS has none where there
 * is an alpha channel. KEPT_ANCILLARY's length is the longest over them all: an RGB image's tRNS
 * of 256 bytes carried 250 that no decoder reads.
 */
const BY_COLOUR_TYPE = new Map<string, Record<number, number | undefined>>([
  ['tRNS', { 0: 2, 2: 6, 3: 256, 4: 0, 6: 0 }],
  ['bKGD', { 0: 2, 2: 6, 3: 1, 4: 2, 6: 6 }],
  ['sBIT', { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 }],
]);
/** Where IHDR's colour type is: after the signature, IHDR's length and type, and 9 bytes of it. */
const COLOUR_TYPE_AT = 8 + 8 + 9;

/**
 * The most an embedded ICC profile may inflate to and be kept (real ones are a few KB, a printer's
 * a few MB). A larger one, a deflate bomb (a 512 MB profile in a few hundred KB), or one that is
 * no ICC profile at all ('acsp' at byte 36, its declared size its length) goes: every colour
 * manager ignores what is no profile, and the stored file is not a vehicle for it.
 */
export const MAX_ICC_PROFILE_BYTES = 8 * 1024 * 1024;

/**
 * The PNG `png` without its metadata, its pixels untouched: critical chunks and those above are
 * kept in order up to IEND; bytes after IEND go. An orientation 2-8 is written back as an eXIf
 * chunk holding a minimal EXIF block, right after IHDR. Malformed or truncated input is 400
 * invalid_image.
 */
export function stripPngMetadata(png: Buffer, orientation: number): Buffer {
  if (png.length < SIGNATURE.length || !png.subarray(0, 8).equals(SIGNATURE)) {
    throw invalidImage();
  }
  const kept: Buffer[] = [png.subarray(0, 8)];
  const colourType = png[COLOUR_TYPE_AT];
  for (let pos = 8; ;) {
    const { type, end } = chunkAt(png, pos);
    const critical = (type.charCodeAt(0) & 0x20) === 0;
    if (critical || keptAncillary(type, png.subarray(pos + 8, end - 4), colourType)) {
      kept.push(png.subarray(pos, end));
    }
    if (pos === 8 && type === 'IHDR' && needsOrientation(orientation)) {
      kept.push(pngChunk('eXIf', minimalExif(orientation)));
    }
    if (type === 'IEND') return Buffer.concat(kept);
    pos = end;
  }
}

/**
 * Whether an ancillary chunk of `type` with this `data` is kept, in an image of `colourType` (see
 * KEPT_ANCILLARY and BY_COLOUR_TYPE).
 */
function keptAncillary(type: string, data: Buffer, colourType: number | undefined): boolean {
  const byColourType =
    colourType === undefined ? undefined : BY_COLOUR_TYPE.get(type)?.[colourType];
  const longest = byColourType ?? KEPT_ANCILLARY.get(type);
  if (longest === undefined || data.length > longest) return false;
  return type !== 'iCCP' || keptProfile(data);
}

/** An iCCP's data: a name of 1-79 bytes, NUL, method 0, then the zlib-compressed profile. */
function keptProfile(data: Buffer): boolean {
  const nul = data.indexOf(0);
  if (nul < 1 || nul > 79 || data[nul + 1] !== 0) return false;
  let profile: Buffer;
  try {
    profile = inflateSync(data.subarray(nul + 2), { maxOutputLength: MAX_ICC_PROFILE_BYTES });
  } catch {
    return false; // corrupt, or larger than MAX_ICC_PROFILE_BYTES
  }
  return isIccProfile(profile);
}

function chunkAt(png: Buffer, pos: number): { type: string; end: number } {
  if (pos + 12 > png.length) throw invalidImage();
  const length = png.readUInt32BE(pos);
  const type = png.toString('latin1', pos + 4, pos + 8);
  if (length > 0x7fffffff || !/^[A-Za-z]{4}$/.test(type)) throw invalidImage();
  const end = pos + 12 + length;
  if (end > png.length) throw invalidImage();
  return { type, end };
}

/** A chunk: length, type, data and the CRC of type and data. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write(type, 4, 'latin1');
  data.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  return chunk;
}
