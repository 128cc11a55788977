import { crc32 } from 'node:zlib';
import { invalidImage } from '../image-problems';
import { minimalExif, needsOrientation } from './minimal-exif';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/**
 * Ancillary chunks that change how the pixels look (colour, transparency, gamma, the pixel aspect
 * ratio): kept. Every other ancillary chunk goes: text (tEXt, zTXt, iTXt, XMP among them), eXIf,
 * tIME, and APNG's animation chunks (the decoder shows the still image, so the original is that).
 */
const KEPT_ANCILLARY = new Set([
  'tRNS',
  'gAMA',
  'cHRM',
  'sRGB',
  'iCCP',
  'cICP',
  'mDCV',
  'cLLI',
  'sBIT',
  'pHYs',
  'bKGD',
]);

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
  for (let pos = 8; ;) {
    const { type, end } = chunkAt(png, pos);
    const critical = (type.charCodeAt(0) & 0x20) === 0;
    if (critical || KEPT_ANCILLARY.has(type)) kept.push(png.subarray(pos, end));
    if (pos === 8 && type === 'IHDR' && needsOrientation(orientation)) {
      kept.push(pngChunk('eXIf', minimalExif(orientation)));
    }
    if (type === 'IEND') return Buffer.concat(kept);
    pos = end;
  }
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
