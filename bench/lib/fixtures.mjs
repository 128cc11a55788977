// The files the bench uploads, made at run time with sharp and a fixed pseudo-random sequence, so
// every run uploads the same bytes: smooth colour areas (a small random image enlarged) with
// sensor-like noise on top, which compresses like a photograph rather than like a flat colour.
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';

/** A deterministic 32-bit pseudo-random sequence (mulberry32). */
function sequence(start) {
  let state = start >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Raw RGB pixels of a photo-like `width`×`height` image: `areas` across of smooth colour, with
 * grain of amplitude `noise`.
 */
async function photoPixels(width, height, noise, start, areas) {
  const next = sequence(start);
  const [w, h] = [areas, Math.max(1, Math.round((areas * height) / width))];
  const small = Buffer.alloc(w * h * 3);
  for (let i = 0; i < small.length; i++) small[i] = Math.floor(next() * 256);
  const pixels = await sharp(small, { raw: { width: w, height: h, channels: 3 } })
    .resize(width, height, { kernel: 'cubic' })
    .raw()
    .toBuffer();
  for (let i = 0; noise > 0 && i < pixels.length; i++) {
    const v = pixels[i] + Math.floor((next() - 0.5) * 2 * noise);
    pixels[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return pixels;
}

/** A photo-like JPEG with a camera's EXIF block (make, model), as a phone or camera writes one. */
export async function photoJpeg({
  width,
  height,
  noise = 10,
  quality = 90,
  start = 17,
  areas = 48,
}) {
  const pixels = await photoPixels(width, height, noise, start, areas);
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .withExif({ IFD0: { Make: 'Bench', Model: 'Photo-like 1', Software: 'npm run bench' } })
    .jpeg({ quality })
    .toBuffer();
}

/**
 * `jpeg` grown to exactly `bytes` with comment (COM) segments after its start marker: a file of
 * that size whose pixels are those of `jpeg` (cameras' files carry large metadata blocks too).
 */
export function padJpeg(jpeg, bytes) {
  const missing = bytes - jpeg.length;
  if (missing < 0) throw new Error(`the JPEG is already ${jpeg.length} bytes, over ${bytes}`);
  const segments = [];
  let left = missing;
  while (left > 0) {
    // A segment is 4 bytes of marker and length, then up to 65533 bytes of payload.
    const size = Math.min(65_537, left);
    const payload = Math.max(0, size - 4);
    const segment = Buffer.alloc(4 + payload, 0x20);
    segment.writeUInt16BE(0xfffe, 0);
    segment.writeUInt16BE(payload + 2, 2);
    segments.push(segment.subarray(0, Math.min(segment.length, left)));
    left -= Math.min(segment.length, left);
  }
  if (segments.at(-1).length < 4) throw new Error('padding would end with a partial segment');
  return Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);
}

/** A multipart/form-data body with one file field, as curl -F sends it. */
export function multipartBody(field, filename, type, bytes) {
  const boundary = `----bench${randomBytes(8).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\n` +
      `Content-Type: ${type}\r\n\r\n`,
  );
  const end = Buffer.from(`\r\n--${boundary}--\r\n`);
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    head,
    end,
    body: bytes ? Buffer.concat([head, bytes, end]) : undefined,
  };
}
