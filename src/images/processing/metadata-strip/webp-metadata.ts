import { invalidImage } from '../image-problems';
import { isIccProfile } from './icc-profile';
import { minimalExif, needsOrientation } from './minimal-exif';

/**
 * The chunks of a WebP's pixels and colour, an animation's (its loop, background and frames, each
 * frame's pixels within it) included: kept. EXIF, XMP and unknown chunks go.
 */
const KEPT = new Set(['VP8X', 'ICCP', 'ALPH', 'VP8 ', 'VP8L', 'ANIM', 'ANMF']);
const ANIMATION = new Set(['ANIM', 'ANMF']);
/** A frame's own chunks (https://developers.google.com/speed/webp/docs/riff_container#animation): kept. */
const FRAME_KEPT = new Set(['ALPH', 'VP8 ', 'VP8L']);
/** An ANMF chunk's frame header: position, size, duration and flags, before its chunks. */
const FRAME_HEADER = 16;
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
 * the ICC profile stays (if it is one: see isIccProfile), bytes after the RIFF container go, and the VP8X flags say what is left.
 * An orientation 2-8 is written back as an EXIF chunk holding a minimal EXIF block. Undefined for
 * an animation that would need one (libvips cannot turn its frames: it is stored as its first
 * frame, upright) and for a simple-format file that would need one (it has no VP8X to declare
 * one). Malformed input is 400 invalid_image.
 */
export function stripWebpMetadata(webp: Buffer, orientation: number): Buffer | undefined {
  if (webp.length < 12 || webp.toString('latin1', 0, 4) !== 'RIFF') throw invalidImage();
  if (webp.toString('latin1', 8, 12) !== 'WEBP') throw invalidImage();
  const riffEnd = 8 + webp.readUInt32LE(4);
  if (riffEnd > webp.length || riffEnd < 20) throw invalidImage();
  const chunks = readChunks(webp.subarray(0, riffEnd), 12);
  const kept = chunks.filter(keptChunk).map(withoutUnknownChunks);
  const rotated = needsOrientation(orientation);
  if (rotated && kept.some((chunk) => ANIMATION.has(chunk.fourcc))) return undefined;
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

/** A chunk of KEPT; an ICCP only if it holds an ICC profile. */
function keptChunk(chunk: Chunk): boolean {
  return KEPT.has(chunk.fourcc) && (chunk.fourcc !== 'ICCP' || isIccProfile(chunk.data));
}

/** A WebP animation as its chunks declare it: the canvas and how many frames. */
export interface WebpAnimation {
  width: number;
  height: number;
  frames: number;
}

/**
 * The canvas and frame count of the animated WebP `webp`, from its chunks alone: a walk over the
 * chunk headers, linear in their number, without reading the frames. libvips' own header read of
 * an animation takes time quadratic in its frames (40,000 1×1 frames in 1.9 MB: 3.9 s; 305,834 in
 * 14 MB: 209 s, in a processing slot and on a thread of libuv's pool), so a file with more frames
 * than MAX_IMAGE_PIXELS allows is refused from this count, before it. Undefined for a WebP that
 * is no animation or whose chunks do not parse (the decoder says what those are).
 */
export function webpAnimation(webp: Buffer): WebpAnimation | undefined {
  if (webp.length < 30 || webp.toString('latin1', 0, 4) !== 'RIFF') return undefined;
  if (webp.toString('latin1', 8, 12) !== 'WEBP' || webp.toString('latin1', 12, 16) !== 'VP8X') {
    return undefined;
  }
  // VP8X: flags and 3 reserved bytes, then the canvas' width and height less one, 24 bits each.
  const width = webp.readUIntLE(24, 3) + 1;
  const height = webp.readUIntLE(27, 3) + 1;
  let frames = 0;
  for (let pos = 12; pos + 8 <= webp.length;) {
    if (webp.readUInt32BE(pos) === ANMF_FOURCC) frames += 1;
    const size = webp.readUInt32LE(pos + 4);
    pos += 8 + size + (size & 1);
  }
  return frames > 0 ? { width, height, frames } : undefined;
}

const ANMF_FOURCC = Buffer.from('ANMF', 'latin1').readUInt32BE(0);

/** An animation frame keeps its header and its pixels' chunks; unknown chunks within it go. */
function withoutUnknownChunks(chunk: Chunk): Chunk {
  if (chunk.fourcc !== 'ANMF') return chunk;
  if (chunk.data.length < FRAME_HEADER + 8) throw invalidImage();
  const inner = readChunks(chunk.data, FRAME_HEADER).filter((c) => FRAME_KEPT.has(c.fourcc));
  if (inner.length === 0) throw invalidImage();
  return {
    fourcc: 'ANMF',
    data: Buffer.concat([chunk.data.subarray(0, FRAME_HEADER), serialize(inner)]),
  };
}

/** The chunks of `riffBytes` from `start` (12 in a RIFF file, after RIFF, its size and WEBP). */
function readChunks(riffBytes: Buffer, start: number): Chunk[] {
  const chunks: Chunk[] = [];
  for (let pos = start; pos < riffBytes.length;) {
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

/** A RIFF WEBP container of `chunks`. */
function riff(chunks: Chunk[]): Buffer {
  if (chunks.length === 0) throw invalidImage();
  const body = serialize(chunks);
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length + 4, 4);
  head.write('WEBP', 8, 'latin1');
  return Buffer.concat([head, body]);
}

/** `chunks` one after the other, each padded to an even size. */
function serialize(chunks: Chunk[]): Buffer {
  const parts: Buffer[] = [];
  for (const { fourcc, data } of chunks) {
    const header = Buffer.alloc(8);
    header.write(fourcc, 0, 'latin1');
    header.writeUInt32LE(data.length, 4);
    parts.push(header, data, data.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0));
  }
  return Buffer.concat(parts);
}
