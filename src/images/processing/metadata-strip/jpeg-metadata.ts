import { invalidImage } from '../image-problems';
import { isIccProfile } from './icc-profile';
import { minimalExif, needsOrientation } from './minimal-exif';

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const APP0 = 0xe0;
const APP1 = 0xe1;
const APP2 = 0xe2;
const APP14 = 0xee;
const COM = 0xfe;
/** A JFIF APP0 segment without a thumbnail: its marker, length and 14 bytes of header. */
const JFIF_HEADER_BYTES = 18;
/** Adobe's APP14 segment: its marker, length and the 12 bytes libjpeg reads of it. */
const ADOBE_HEADER_BYTES = 16;
/** Frames every browser decodes: Huffman-coded baseline, extended and progressive. */
const BROWSER_FRAMES = new Set([0xc0, 0xc1, 0xc2]);
/** Lossless, hierarchical and arithmetic-coded frames: decoded here, shown by few browsers. */
const OTHER_FRAMES = new Set([0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/**
 * The JPEG `jpeg` without its metadata, its pixels untouched: every APPn segment goes (EXIF, XMP,
 * IPTC/Photoshop, MPF, thumbnails) but the JFIF header, the ICC profile (APP2, if it is one: see
 * isIccProfile) and Adobe's colour transform flag (APP14, its 12 bytes), which the decoder
 * reads; comments go, and anything after the end marker. A file that ends in its last scan,
 * without the end marker, gets one. An orientation 2-8 is written back as a minimal EXIF block.
 * Undefined for a frame type browsers may not display (arithmetic, lossless, hierarchical,
 * 12-bit): that one is re-encoded. Malformed input is 400 invalid_image (a scan cut short is the
 * decoder's to refuse).
 */
export function stripJpegMetadata(jpeg: Buffer, orientation: number): Buffer | undefined {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== SOI) throw invalidImage();
  const kept: Buffer[] = [jpeg.subarray(0, 2)];
  const profile: Buffer[] = [];
  let exifAt = 1;
  let pos = 2;
  for (;;) {
    const start = markerStart(jpeg, pos);
    const marker = jpeg[start + 1];
    if (marker === EOI) {
      kept.push(jpeg.subarray(start, start + 2));
      break;
    }
    if (marker === SOI) throw invalidImage();
    const end = isStandalone(marker) ? start + 2 : segmentEnd(jpeg, start);
    const segment = jpeg.subarray(start, end);
    if (OTHER_FRAMES.has(marker) || (BROWSER_FRAMES.has(marker) && segment[4] !== 8)) {
      return undefined;
    }
    pos = marker === SOS ? scanEnd(jpeg, end) : end;
    if (marker === SOS && pos === jpeg.length) {
      // The file ends in its scan, without EOI: closed here, as libjpeg closes it when it reads
      // to the end. A scan that is whole decodes whole; one cut short is the decoder's to refuse.
      kept.push(jpeg.subarray(start, pos), Buffer.from([0xff, EOI]));
      break;
    }
    if (!keepSegment(marker, segment)) continue;
    const part =
      marker === APP0
        ? jfifHeader(segment)
        : marker === APP14
          ? adobeHeader(segment)
          : jpeg.subarray(start, pos);
    if (marker === APP2) profile.push(part);
    kept.push(part);
    if (marker === APP0 && kept.length === 2) exifAt = 2; // EXIF follows JFIF
  }
  if (needsOrientation(orientation)) kept.splice(exifAt, 0, app1Exif(orientation));
  if (profile.length > 0 && !isIccProfile(assembledProfile(profile))) {
    return Buffer.concat(kept.filter((part) => !profile.includes(part)));
  }
  return Buffer.concat(kept);
}

/** Where an APP2 ICC_PROFILE segment's piece of the profile starts: after its sequence numbers. */
const ICC_PIECE_AT = 4 + 'ICC_PROFILE\0'.length + 2;

/**
 * The ICC profile that APP2 `segments` hold, in pieces numbered from 1 (each segment's byte
 * after the signature), put together in their order.
 */
function assembledProfile(segments: Buffer[]): Buffer {
  const sequence = (segment: Buffer) => segment[ICC_PIECE_AT - 2];
  const ordered = [...segments].sort((a, b) => sequence(a) - sequence(b));
  return Buffer.concat(ordered.map((segment) => segment.subarray(ICC_PIECE_AT)));
}

/**
 * How many scans the JPEG `jpeg` has, counted up to `atMost + 1` (then it stops). A decode costs
 * a pass over the whole image per scan: a progressive JPEG may have thousands (400 KB of
 * 6000×6000 in 2,647 scans took 22 s to decode, against 0.3 s for a usual one of 10), which
 * neither libvips nor sharp limits. A file that ends early is counted as far as it goes: the
 * decoder says whether it is an image.
 */
export function jpegScanCount(jpeg: Buffer, atMost: number): number {
  let scans = 0;
  let pos = 2;
  try {
    while (scans <= atMost) {
      const start = markerStart(jpeg, pos);
      const marker = jpeg[start + 1];
      if (marker === EOI) break;
      const end = isStandalone(marker) ? start + 2 : segmentEnd(jpeg, start);
      if (marker === SOS) scans += 1;
      pos = marker === SOS ? scanEnd(jpeg, end) : end;
    }
  } catch {
    // Truncated or malformed: what was counted.
  }
  return scans;
}

/**
 * Whether the progressive JPEG `jpeg` codes every coefficient of every component to full
 * precision in its scans (each of the 64 reached by a scan whose Al is 0). One cut between two
 * scans, closed or not, decodes without a warning from libjpeg, its later scans simply missing: a
 * blurred or blocky picture (cut before the 5th of libjpeg's 10 scans, 17 dB from the whole).
 * The scripts of libjpeg and mozjpeg (every option sharp offers, colour or grey) complete them all.
 * Read up to its end marker or end; malformed headers count as complete (the decoder decides).
 */
export function progressiveComplete(jpeg: Buffer): boolean {
  const precision = new Map<number, number[]>();
  let pos = 2;
  try {
    for (;;) {
      const start = markerStart(jpeg, pos);
      const marker = jpeg[start + 1];
      if (marker === EOI) break;
      const end = isStandalone(marker) ? start + 2 : segmentEnd(jpeg, start);
      if (marker === 0xc2) {
        for (let i = 0, count = jpeg[start + 9]; i < count; i++) {
          precision.set(jpeg[start + 10 + i * 3], new Array<number>(64).fill(Infinity));
        }
      }
      if (marker === SOS) {
        const count = jpeg[start + 4];
        const at = start + 5 + count * 2;
        const [from, to, al] = [jpeg[at], Math.min(jpeg[at + 1], 63), jpeg[at + 2] & 0x0f];
        for (let i = 0; i < count; i++) {
          const coefficients = precision.get(jpeg[start + 5 + i * 2]);
          for (let k = from; coefficients && k <= to; k++) {
            coefficients[k] = Math.min(coefficients[k], al);
          }
        }
      }
      pos = marker === SOS ? scanEnd(jpeg, end) : end;
      if (pos >= jpeg.length) break;
    }
  } catch {
    // Malformed: the decoder says whether it is an image.
    return true;
  }
  return [...precision.values()].every((coefficients) => coefficients.every((al) => al === 0));
}

/** Where the next marker starts: like libjpeg, stray bytes before it are skipped, fill bytes too. */
function markerStart(jpeg: Buffer, from: number): number {
  let at = jpeg.indexOf(0xff, from);
  while (at !== -1 && jpeg[at + 1] === 0xff) at++;
  if (at === -1 || at + 1 >= jpeg.length) throw invalidImage();
  return at;
}

function isStandalone(marker: number): boolean {
  return marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7);
}

function segmentEnd(jpeg: Buffer, start: number): number {
  if (start + 4 > jpeg.length) throw invalidImage();
  const length = jpeg.readUInt16BE(start + 2);
  if (length < 2 || start + 2 + length > jpeg.length) throw invalidImage();
  return start + 2 + length;
}

/**
 * The end of a scan's entropy-coded data: the next marker that is not a stuffed byte or RSTn, or
 * the end of the file (a lone 0xFF last, the start of a marker never written, included).
 */
function scanEnd(jpeg: Buffer, from: number): number {
  let at = from;
  for (;;) {
    at = jpeg.indexOf(0xff, at);
    if (at === -1 || at + 1 >= jpeg.length) return jpeg.length;
    const next = jpeg[at + 1];
    if (next === 0x00 || next === 0xff || (next >= 0xd0 && next <= 0xd7)) at++;
    else return at;
  }
}

function keepSegment(marker: number, segment: Buffer): boolean {
  if (marker === COM) return false;
  if (marker < APP0 || marker > APP0 + 15) return true;
  if (marker === APP0) return startsWith(segment, 'JFIF\0') && segment.length >= JFIF_HEADER_BYTES;
  if (marker === APP2) return startsWith(segment, 'ICC_PROFILE\0');
  return marker === APP14 && startsWith(segment, 'Adobe');
}

/**
 * The JFIF header alone (version, units, densities), without the thumbnail it may carry after
 * them: a thumbnail, or whatever bytes follow, can show what an edit took out of the picture.
 */
function jfifHeader(segment: Buffer): Buffer {
  const header = Buffer.from(segment.subarray(0, JFIF_HEADER_BYTES));
  header.writeUInt16BE(JFIF_HEADER_BYTES - 2, 2);
  header[16] = 0; // Xthumbnail
  header[17] = 0; // Ythumbnail
  return header;
}

/**
 * Adobe's segment as the decoder reads it: its marker, length and 12 bytes ('Adobe', version,
 * flags, colour transform), without whatever bytes follow them, which nothing reads.
 */
function adobeHeader(segment: Buffer): Buffer {
  if (segment.length <= ADOBE_HEADER_BYTES) return segment;
  const header = Buffer.from(segment.subarray(0, ADOBE_HEADER_BYTES));
  header.writeUInt16BE(ADOBE_HEADER_BYTES - 2, 2);
  return header;
}

function startsWith(segment: Buffer, signature: string): boolean {
  return segment.toString('latin1', 4, 4 + signature.length) === signature;
}

function app1Exif(orientation: number): Buffer {
  const body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), minimalExif(orientation)]);
  const header = Buffer.from([0xff, APP1, 0, 0]);
  header.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([header, body]);
}
