import { invalidImage } from '../image-problems';
import { minimalExif, needsOrientation } from './minimal-exif';

/** The chunks of a still WebP's pixels and colour: kept. EXIF, XMP and unknown chunks go. */
const KEPT = new Set(['VP8X', 'ICCP', 'ALPH', 'VP8 ', 'VP8L']);
const ANIMATION = new Set(['ANIM', 'ANMF']);
/** VP8X flags (https://developers.google.com/speed/webp/docs/riff_container#extended_file_format). */
const ICC_FLAG = 0x20;
const EXIF_FLAG = 0x08;
const XMP_FLAG = 0x04;

interface Chunk {
  fourcc: string;
  data: Buffer;
}

/**
 * The WebP `webp` without its metadata, its pixels untouched: EXIF, XMP and unknown chunks go,
 * the ICC profile stays, bytes after the RIFF container go, and the VP8X flags say what is left.
 * An orientation 2-8 is written back as an EXIF chunk holding a minimal EXIF block. Undefined for
 * an animation (the original is its first frame, re-encoded) and for a simple-format file that
 * would need an orientation (it has no VP8X to declare one). Malformed input is 400 invalid_image.
 */
export function stripWebpMetadata(webp: Buffer, orientation: number): Buffer | undefined {
  if (webp.length < 12 || webp.toString('latin1', 0, 4) !== 'RIFF') throw invalidImage();
  if (webp.toString('latin1', 8, 12) !== 'WEBP') throw invalidImage();
  const riffEnd = 8 + webp.readUInt32LE(4);
  if (riffEnd > webp.length || riffEnd < 20) throw invalidImage();
  const chunks = readChunks(webp.subarray(0, riffEnd));
  if (chunks.some((chunk) => ANIMATION.has(chunk.fourcc))) return undefined;
  const kept = chunks.filter((chunk) => KEPT.has(chunk.fourcc));
  const rotated = needsOrientation(orientation);
  if (kept[0]?.fourcc !== 'VP8X') {
    return rotated ? undefined : riff(kept.filter((chunk) => chunk.fourcc !== 'ICCP'));
  }
  const flags = kept[0].data[0] & ~(ICC_FLAG | EXIF_FLAG | XMP_FLAG);
  const vp8x = Buffer.from(kept[0].data);
  vp8x[0] =
    flags |
    (kept.some((chunk) => chunk.fourcc === 'ICCP') ? ICC_FLAG : 0) |
    (rotated ? EXIF_FLAG : 0);
  const exif = rotated ? [{ fourcc: 'EXIF', data: minimalExif(orientation) }] : [];
  return riff([{ fourcc: 'VP8X', data: vp8x }, ...kept.slice(1), ...exif]);
}

function readChunks(riffBytes: Buffer): Chunk[] {
  const chunks: Chunk[] = [];
  for (let pos = 12; pos < riffBytes.length;) {
    if (pos + 8 > riffBytes.length) throw invalidImage();
    const size = riffBytes.readUInt32LE(pos + 4);
    const end = pos + 8 + size;
    if (end > riffBytes.length) throw invalidImage();
    chunks.push({
      fourcc: riffBytes.toString('latin1', pos, pos + 4),
      data: riffBytes.subarray(pos + 8, end),
    });
    pos = end + (size & 1);
  }
  if (chunks.length === 0) throw invalidImage();
  return chunks;
}

/** A RIFF WEBP container of `chunks`, each padded to an even size. */
function riff(chunks: Chunk[]): Buffer {
  if (chunks.length === 0) throw invalidImage();
  const parts: Buffer[] = [];
  for (const { fourcc, data } of chunks) {
    const header = Buffer.alloc(8);
    header.write(fourcc, 0, 'latin1');
    header.writeUInt32LE(data.length, 4);
    parts.push(header, data, data.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0));
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length + 4, 4);
  head.write('WEBP', 8, 'latin1');
  return Buffer.concat([head, body]);
}
