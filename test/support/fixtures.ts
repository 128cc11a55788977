/**
 * Image fixtures generated at test time (no binaries are committed).
 *
 * Everything here is deterministic: pixel noise comes from a seeded PRNG, not from
 * sharp's `noise` option (which is random on every call). All fixtures are small.
 */
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';

/* ------------------------------------------------------------------ helpers */

/** Small seeded PRNG (mulberry32), so noisy fixtures are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `length` pseudo-random bytes from `seed`. */
export function noiseBytes(length: number, seed: number): Buffer {
  const next = prng(seed);
  // Four bytes per draw, through a typed array: megabytes in milliseconds.
  const words = new Uint32Array(Math.ceil(length / 4));
  for (let i = 0; i < words.length; i++) words[i] = Math.floor(next() * 4294967296);
  return Buffer.from(words.buffer, 0, length);
}

/** A raw 3-channel image whose left half is red and right half is blue. */
function redBlueRaw(width: number, height: number): Buffer {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      if (x < width / 2) raw[i] = 255;
      else raw[i + 2] = 255;
    }
  }
  return raw;
}

/** A small solid-colour sharp pipeline. */
function solid(
  width: number,
  height: number,
  background: sharp.Colour = { r: 30, g: 120, b: 200 },
): sharp.Sharp {
  return sharp({ create: { width, height, channels: 3, background } });
}

/* ------------------------------------------------------------- EXIF / GPS */

/**
 * JPEG whose stored pixels are 300×200 (left half red, right half blue) with EXIF
 * Orientation=6, so displayed upright it is 200×300 with red on top and blue below.
 * The EXIF also carries a GPS IFD (GPSLatitude/GPSLongitude, tag 0x8825 in IFD0).
 *
 * `withMetadata({ orientation })` sets the orientation; `withExifMerge` adds the GPS IFD
 * (IFD3 in sharp's naming). Orientation must be set via `withMetadata`: an `Orientation`
 * key inside `withExif({ IFD0 })` is overwritten by libvips with the image's own value.
 */
export function jpegWithOrientation6AndGps(): Promise<Buffer> {
  const width = 300;
  const height = 200;
  return sharp(redBlueRaw(width, height), { raw: { width, height, channels: 3 } })
    .withMetadata({ orientation: 6 })
    .withExifMerge({
      IFD0: { Make: 'FixtureCam', Model: 'Fixture 1' },
      IFD3: {
        GPSLatitudeRef: 'N',
        GPSLatitude: '51/1 30/1 0/1',
        GPSLongitudeRef: 'W',
        GPSLongitude: '0/1 7/1 0/1',
      },
    })
    .jpeg({ quality: 90 })
    .toBuffer();
}

/** Start of the TIFF structure inside an EXIF blob (sharp prefixes it with "Exif\0\0"). */
function tiffStart(exif: Buffer): number {
  if (exif.length >= 6 && exif.toString('latin1', 0, 6) === 'Exif\0\0') return 6;
  return 0;
}

/**
 * The entries of IFD0 of an EXIF blob as tag → value/offset field, or undefined when the
 * blob is not a parseable TIFF structure.
 */
function readIfd0(exif: Buffer): { tags: Map<number, number>; littleEndian: boolean } | undefined {
  const base = tiffStart(exif);
  if (exif.length < base + 8) return undefined;
  const order = exif.toString('latin1', base, base + 2);
  if (order !== 'II' && order !== 'MM') return undefined;
  const le = order === 'II';
  const u16 = (o: number) => (le ? exif.readUInt16LE(o) : exif.readUInt16BE(o));
  const u32 = (o: number) => (le ? exif.readUInt32LE(o) : exif.readUInt32BE(o));
  if (u16(base + 2) !== 42) return undefined;
  const ifd = base + u32(base + 4);
  if (ifd + 2 > exif.length) return undefined;
  const count = u16(ifd);
  const tags = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > exif.length) break;
    tags.set(u16(entry), u32(entry + 8));
  }
  return { tags, littleEndian: le };
}

/** Raw byte search for the GPS IFD pointer tag (0x8825) entry with type LONG, either order. */
function gpsTagBytesPresent(exif: Buffer): boolean {
  return (
    exif.includes(Buffer.from([0x25, 0x88, 0x04, 0x00])) ||
    exif.includes(Buffer.from([0x88, 0x25, 0x00, 0x04]))
  );
}

/**
 * True when an EXIF blob (as returned by `sharp(buf).metadata().exif`, with or without the
 * "Exif\0\0" prefix) carries a GPS IFD with at least one entry. Falls back to a byte search
 * for the 0x8825 tag when the blob cannot be parsed, so a malformed blob errs towards "yes".
 */
export function exifHasGps(exif: Buffer | undefined): boolean {
  if (!exif || exif.length === 0) return false;
  const ifd0 = readIfd0(exif);
  if (!ifd0) return gpsTagBytesPresent(exif);
  const pointer = ifd0.tags.get(0x8825);
  if (pointer === undefined) return false;
  const gps = tiffStart(exif) + pointer;
  if (gps + 2 > exif.length) return true; // a dangling pointer still means "GPS was there"
  const count = ifd0.littleEndian ? exif.readUInt16LE(gps) : exif.readUInt16BE(gps);
  return count > 0;
}

/* ----------------------------------------------------------- sharp formats */

/** JPEG in the CMYK colour space (Adobe-style 4-channel JPEG). */
export function cmykJpeg(): Promise<Buffer> {
  return solid(64, 48, { r: 220, g: 40, b: 90 }).toColourspace('cmyk').jpeg().toBuffer();
}

/** 120×80 RGBA PNG: a horizontal colour ramp with alpha 50% (fully opaque in the middle band). */
export function pngWithAlpha(): Promise<Buffer> {
  const width = 120;
  const height = 80;
  const raw = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      raw[i] = Math.round((x / (width - 1)) * 255);
      raw[i + 1] = 80;
      raw[i + 2] = 255 - raw[i];
      raw[i + 3] = y >= 30 && y < 50 ? 255 : 128;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 4 } })
    .png()
    .toBuffer();
}

/** A small (40×30) GIF. */
export function gif(): Promise<Buffer> {
  return sharp(redBlueRaw(40, 30), { raw: { width: 40, height: 30, channels: 3 } })
    .gif()
    .toBuffer();
}

/** A small (64×48) lossy WebP. */
export function webp(): Promise<Buffer> {
  return solid(64, 48).webp({ quality: 80 }).toBuffer();
}

/** A small (64×48) AVIF (HEIF container, AV1 compression). */
export function avif(): Promise<Buffer> {
  return solid(64, 48).avif({ quality: 50, effort: 0 }).toBuffer();
}

/** A simple valid baseline JPEG of a solid colour. */
export function solidJpeg(width = 64, height = 64): Promise<Buffer> {
  return solid(width, height).jpeg().toBuffer();
}

/**
 * A PNG of deterministic RGB noise, so its byte size scales with the pixel count
 * (roughly 3 × width × height + ~100 bytes; noise does not compress).
 */
export function noisyPng(width: number, height: number): Promise<Buffer> {
  const raw = noiseBytes(width * height * 3, width * 65_537 + height);
  return (
    sharp(raw, { raw: { width, height, channels: 3 } })
      // Noise does not compress: storing is as small and far faster for multi-megabyte fixtures.
      .png({ compressionLevel: 0, adaptiveFiltering: false })
      .toBuffer()
  );
}

/**
 * A valid ~20 KB JPEG of noise cut to its first 60% of bytes: no EOI marker, and the
 * entropy-coded data stops mid-scan. The header is intact, so `metadata()` still works.
 */
export async function truncatedJpeg(): Promise<Buffer> {
  const width = 128;
  const height = 96;
  const raw = noiseBytes(width * height * 3, 0x5eed);
  const full = await sharp(raw, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90, chromaSubsampling: '4:4:4' })
    .toBuffer();
  return full.subarray(0, Math.floor(full.length * 0.6));
}

/**
 * A 320×240 JPEG (smooth noise, so its scan is tens of KB) cut at `share` of its bytes (or before
 * a scan) and closed with an EOI marker (FF D9) unless `closed` is false: it looks complete, but
 * its scan stops early, and libjpeg, only warning ("premature end of data segment"), decodes the
 * missing rows as grey; cut between two scans of a progressive one, it warns of nothing.
 */
export async function jpegCutAndClosed(
  options: { share?: number; progressive?: boolean; beforeScan?: number; closed?: boolean } = {},
): Promise<Buffer> {
  const full = await sharp(noiseBytes(80 * 60 * 3, 0xc07), {
    raw: { width: 80, height: 60, channels: 3 },
  })
    .resize(320, 240)
    .jpeg({ quality: 90, progressive: options.progressive ?? false })
    .toBuffer();
  let end = Math.floor(full.length * (options.share ?? 0.6));
  // `beforeScan` n: cut just before the n-th scan's SOS marker (FF DA), between two whole scans.
  for (let n = 0, at = 0; options.beforeScan !== undefined && n < options.beforeScan; n++) {
    at = full.indexOf(Buffer.from([0xff, 0xda]), at + 1);
    end = at;
  }
  const cut = full.subarray(0, end);
  return options.closed === false ? cut : Buffer.concat([cut, Buffer.from([0xff, 0xd9])]);
}

/**
 * JPEGs as cameras, phones and editors write them, which libjpeg decodes whole (warning of some)
 * and browsers show: the same 320×240 picture, each with one oddity.
 */
export async function harmlessJpegOddities(): Promise<{ name: string; jpeg: Buffer }[]> {
  const full = await jpegCutAndClosed({ share: 1 });
  const jpeg = full.subarray(0, full.length - 2); // the whole file, once
  const soi = jpeg.subarray(0, 2);
  const afterSoi = jpeg.subarray(2);
  const segment = (marker: number, payload: Buffer): Buffer => {
    const head = Buffer.from([0xff, marker, 0, 0]);
    head.writeUInt16BE(payload.length + 2, 2);
    return Buffer.concat([head, payload]);
  };
  const jfif = (major: number) =>
    segment(0xe0, Buffer.from([0x4a, 0x46, 0x49, 0x46, 0, major, 1, 0, 0, 1, 0, 1, 0, 0]));
  // The second marker after SOI (the first is sharp's DQT), where stray bytes make libjpeg warn.
  const second = jpeg.indexOf(Buffer.from([0xff]), 4 + jpeg.readUInt16BE(4));
  return [
    {
      name: 'trailing bytes after its EOI',
      jpeg: Buffer.concat([jpeg, Buffer.from('junk after the end')]),
    },
    {
      name: 'extraneous bytes before a marker',
      jpeg: Buffer.concat([
        jpeg.subarray(0, second),
        Buffer.from([1, 2, 3]),
        jpeg.subarray(second),
      ]),
    },
    { name: 'no EOI after its whole scan', jpeg: jpeg.subarray(0, -2) },
    {
      name: 'extraneous bytes before its EOI',
      jpeg: Buffer.concat([jpeg.subarray(0, -2), Buffer.from([1, 2, 3]), jpeg.subarray(-2)]),
    },
    {
      name: 'APP segments of odd lengths',
      jpeg: Buffer.concat([
        soi,
        segment(0xe1, Buffer.from('odd')),
        segment(0xed, Buffer.from('Photoshop 3.0\0x')),
        segment(0xe5, Buffer.alloc(0)),
        afterSoi,
      ]),
    },
    { name: 'an unknown JFIF revision (2.01)', jpeg: Buffer.concat([soi, jfif(2), afterSoi]) },
    {
      name: 'an unknown Adobe colour transform code',
      jpeg: Buffer.concat([
        soi,
        segment(0xee, Buffer.from([0x41, 0x64, 0x6f, 0x62, 0x65, 0, 100, 0, 0, 0, 0, 7])),
        afterSoi,
      ]),
    },
  ];
}

/* ---------------------------------------------------------- handmade bytes */

/**
 * An uncompressed 24-bit BMP (BITMAPFILEHEADER + BITMAPINFOHEADER, bottom-up rows
 * padded to 4 bytes). Pixel (x, y) counted from the top-left is
 * red = x * 255 / (width - 1), green = y * 255 / (height - 1), blue = 64.
 *
 * Note: sharp 0.35's prebuilt libvips has no BMP loader (no ImageMagick), so sharp rejects
 * these bytes with "Input buffer contains unsupported image format".
 */
/**
 * A 32-bit BI_BITFIELDS BMP with the usual BGR masks, every pixel `rgb` and its fourth byte
 * `fourth`: with a BITMAPINFOHEADER followed by its three masks (`header` 40: no alpha mask), or a
 * BITMAPV5HEADER (124) declaring `alphaMask` (0: none, the fourth byte unused: X8R8G8B8).
 */
export function bmp32(
  header: 40 | 124,
  rgb: [number, number, number],
  { fourth = 0, alphaMask = 0, width = 64, height = 48 } = {},
): Buffer {
  const offset = 14 + header + (header === 40 ? 12 : 0);
  const buf = Buffer.alloc(offset + width * height * 4);
  buf.write('BM', 0, 'latin1');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(offset, 10);
  buf.writeUInt32LE(header, 14);
  buf.writeInt32LE(width, 18);
  buf.writeInt32LE(height, 22);
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(32, 28);
  buf.writeUInt32LE(3, 30); // BI_BITFIELDS
  buf.writeUInt32LE(width * height * 4, 34);
  buf.writeUInt32LE(0x00ff0000, 54); // red mask
  buf.writeUInt32LE(0x0000ff00, 58); // green mask
  buf.writeUInt32LE(0x000000ff, 62); // blue mask
  if (header === 124) {
    buf.writeUInt32LE(alphaMask, 66);
    buf.write('BGRs', 70, 'latin1'); // LCS_sRGB
  }
  for (let i = 0; i < width * height; i++) {
    buf.set([rgb[2], rgb[1], rgb[0], fourth], offset + i * 4);
  }
  return buf;
}

export function bmp(width = 64, height = 48): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError('bmp: width and height must be positive integers');
  }
  const rowSize = Math.ceil((width * 3) / 4) * 4;
  const pixelBytes = rowSize * height;
  const offset = 14 + 40;
  const buf = Buffer.alloc(offset + pixelBytes);
  // BITMAPFILEHEADER
  buf.write('BM', 0, 'latin1');
  buf.writeUInt32LE(buf.length, 2); // bfSize
  buf.writeUInt32LE(0, 6); // bfReserved1, bfReserved2
  buf.writeUInt32LE(offset, 10); // bfOffBits
  // BITMAPINFOHEADER
  buf.writeUInt32LE(40, 14); // biSize
  buf.writeInt32LE(width, 18); // biWidth
  buf.writeInt32LE(height, 22); // biHeight (positive: bottom-up)
  buf.writeUInt16LE(1, 26); // biPlanes
  buf.writeUInt16LE(24, 28); // biBitCount
  buf.writeUInt32LE(0, 30); // biCompression = BI_RGB
  buf.writeUInt32LE(pixelBytes, 34); // biSizeImage
  buf.writeInt32LE(2835, 38); // biXPelsPerMeter (72 dpi)
  buf.writeInt32LE(2835, 42); // biYPelsPerMeter
  buf.writeUInt32LE(0, 46); // biClrUsed
  buf.writeUInt32LE(0, 50); // biClrImportant
  for (let y = 0; y < height; y++) {
    const row = offset + (height - 1 - y) * rowSize; // bottom-up
    for (let x = 0; x < width; x++) {
      const p = row + x * 3;
      buf[p] = 64; // B
      buf[p + 1] = height > 1 ? Math.round((y * 255) / (height - 1)) : 0; // G
      buf[p + 2] = width > 1 ? Math.round((x * 255) / (width - 1)) : 0; // R
    }
  }
  return buf;
}

/** The delays of {@link animation}'s frames, in ms: 80, 120, 160, 200… (each its own). */
export const animationDelays = (frames: number): number[] =>
  Array.from({ length: frames }, (_, k) => 80 + 40 * k);

/**
 * An animation of `frames` frames (4 unless said) with distinct delays (animationDelays),
 * looping 3 times: each frame its own colour, with a noisy square moving across it (the frames
 * must differ, or encoders merge them).
 */
export function animation(
  format: 'gif' | 'webp',
  width: number,
  height: number,
  frames = 4,
): Promise<Buffer> {
  const strip = Buffer.alloc(width * height * frames * 3);
  const noise = noiseBytes(strip.length, 29);
  const side = Math.max(1, Math.floor(Math.min(width, height) / 3));
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = ((f * height + y) * width + x) * 3;
        if (x >= f * side && x < (f + 1) * side && y < side) noise.copy(strip, i, i, i + 3);
        else strip.set([(40 * f) % 256, 160, 90], i);
      }
    }
  }
  const image = sharp(strip, {
    raw: { width, height: height * frames, channels: 3, pageHeight: height },
  });
  const options = { delay: animationDelays(frames), loop: 3 };
  return (format === 'gif' ? image.gif(options) : image.webp(options)).toBuffer();
}

/**
 * A PNG of exactly `bytes` bytes (at least 100): a small image and a private ancillary chunk,
 * which decoders skip, of noise (base64 spells it with its usual share of "/"), or of `fill`
 * bytes (0xFF: base64 spells it all "/").
 */
export async function pngOfSize(bytes: number, fill?: number): Promise<Buffer> {
  const small = await sharp({
    create: { width: 16, height: 16, channels: 3, background: { r: 200, g: 50, b: 50 } },
  })
    .png()
    .toBuffer();
  const end = small.length - 12; // IEND: length, type, CRC
  const length = bytes - small.length - 12;
  const data = fill === undefined ? noiseBytes(length, 7) : Buffer.alloc(length, fill);
  return Buffer.concat([small.subarray(0, end), pngChunk('prVt', data), small.subarray(end)]);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length, 0);
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData) >>> 0, 0);
  return Buffer.concat([length, typeAndData, crc]);
}

/** An ICC v2 grey profile whose tone curve is `gamma` (1 is linear light), as image editors write. */
function greyProfile(gamma: number): Buffer {
  const s15 = (x: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(Math.round(x * 65536));
    return b;
  };
  const name = Buffer.from('Grey test\0', 'latin1');
  const descHead = Buffer.alloc(12);
  descHead.write('desc');
  descHead.writeUInt32BE(name.length, 8);
  const curve = Buffer.alloc(14);
  curve.write('curv');
  curve.writeUInt32BE(1, 8);
  curve.writeUInt16BE(Math.round(gamma * 256), 12);
  const tags: [string, Buffer][] = [
    ['desc', Buffer.concat([descHead, name, Buffer.alloc(78)])],
    [
      'wtpt',
      Buffer.concat([Buffer.from('XYZ '), Buffer.alloc(4), s15(0.9642), s15(1), s15(0.8249)]),
    ],
    ['kTRC', curve],
    ['cprt', Buffer.concat([Buffer.from('text'), Buffer.alloc(4), Buffer.from('pd\0')])],
  ];
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  const table = Buffer.alloc(4 + tags.length * 12);
  table.writeUInt32BE(tags.length);
  let offset = 128 + table.length;
  const data = tags.map(([signature, bytes], i) => {
    table.write(signature, 4 + i * 12);
    table.writeUInt32BE(offset, 8 + i * 12);
    table.writeUInt32BE(bytes.length, 12 + i * 12);
    offset += pad(bytes).length;
    return pad(bytes);
  });
  const header = Buffer.alloc(128);
  header.writeUInt32BE(offset);
  header.writeUInt32BE(0x02100000, 8);
  header.write('mntr', 12);
  header.write('GRAY', 16);
  header.write('XYZ ', 20);
  header.write('acsp', 36);
  [0.9642, 1, 0.8249].forEach((v, i) => s15(v).copy(header, 68 + i * 4));
  return Buffer.concat([header, table, ...data]);
}

/**
 * Solid 16-bit PNGs with colour profiles of their own, as photo editors export them, with the
 * sRGB colour each shows (read from 8-bit copies with the same profile, which sharp converts
 * right): RGB 40/180/80 stored in Display P3, and grey 128 in a linear-light grey profile.
 */
export async function deepProfiledPngs(): Promise<{ name: string; png: Buffer; srgb: number[] }[]> {
  const [width, height] = [48, 32];
  const rgb = sharp(Buffer.alloc(width * height * 3, Buffer.from([40, 180, 80])), {
    raw: { width, height, channels: 3 },
  }).withIccProfile('p3');
  const grey = sharp(Buffer.alloc(width * height, 128), { raw: { width, height, channels: 1 } });
  // The iCCP chunk goes right after IHDR (8 + 25 bytes).
  const iccp = pngChunk(
    'iCCP',
    Buffer.concat([Buffer.from('grey\0\0', 'latin1'), deflateSync(greyProfile(1))]),
  );
  const withGreyProfile = (png: Buffer) =>
    Buffer.concat([png.subarray(0, 33), iccp, png.subarray(33)]);
  const shown = async (png: Buffer) => [
    ...(await sharp(png).toColourspace('srgb').raw().toBuffer()).subarray(0, 3),
  ];
  const rgb8 = await rgb.clone().png().toBuffer();
  const grey8 = withGreyProfile(await grey.clone().toColourspace('b-w').png().toBuffer());
  return [
    {
      name: 'RGB in Display P3',
      png: await rgb.clone().toColourspace('rgb16').png().toBuffer(),
      srgb: await shown(rgb8),
    },
    {
      name: 'grey in a linear profile',
      png: withGreyProfile(await grey.clone().toColourspace('grey16').png().toBuffer()),
      srgb: await shown(grey8),
    },
  ];
}

/** The chunks of a PNG, in order, each as its type and data. */
function pngChunks(png: Buffer): { type: string; data: Buffer }[] {
  const chunks: { type: string; data: Buffer }[] = [];
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    chunks.push({
      type: png.toString('latin1', at + 4, at + 8),
      data: png.subarray(at + 8, at + 8 + length),
    });
    at += 12 + length;
  }
  return chunks;
}

/**
 * A 2-frame animated PNG (APNG) of 40×30: red, then blue; its default image (IDAT) is the red
 * first frame, which a decoder without animation shows.
 */
export async function animatedPng(): Promise<Buffer> {
  const frame = (r: number, b: number) =>
    sharp({ create: { width: 40, height: 30, channels: 3, background: { r, g: 0, b } } })
      .png()
      .toBuffer();
  const [first, second] = await Promise.all([frame(255, 0), frame(0, 255)]);
  const chunks = pngChunks(first);
  const idat = (png: Buffer) =>
    Buffer.concat(
      pngChunks(png)
        .filter((c) => c.type === 'IDAT')
        .map((c) => c.data),
    );
  const u32 = (...values: number[]) => {
    const b = Buffer.alloc(4 * values.length);
    values.forEach((v, i) => b.writeUInt32BE(v, i * 4));
    return b;
  };
  // fcTL: sequence, width, height, x, y, delay 1/10 s, dispose 0, blend 0.
  const fctl = (sequence: number) =>
    Buffer.concat([u32(sequence, 40, 30, 0, 0), Buffer.from([0, 1, 0, 10, 0, 0])]);
  return Buffer.concat([
    first.subarray(0, 8),
    pngChunk('IHDR', chunks[0].data),
    pngChunk('acTL', u32(2, 0)),
    pngChunk('fcTL', fctl(0)),
    pngChunk('IDAT', idat(first)),
    pngChunk('fcTL', fctl(1)),
    pngChunk('fdAT', Buffer.concat([u32(2), idat(second)])),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * A tiny (< 100 bytes) 8-bit greyscale PNG whose IHDR claims `width` × `height` (with a
 * correct CRC), followed by one tiny IDAT holding a single zero row and IEND. The header
 * parses, so `metadata()` reports the claimed size; decoding fails for missing data.
 * A "decompression bomb" stand-in for pixel-limit tests.
 *
 * Beware: when the claimed pixel count exceeds sharp's `limitInputPixels` (default
 * 268402689 = 0x3FFF²), even `sharp(buf).metadata()` rejects with "Input image exceeds
 * pixel limit"; pass `{ limitInputPixels: false }` to read the claimed dimensions.
 */
export function pngClaiming(width: number, height: number): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError('pngClaiming: width and height must be positive integers');
  }
  if (width > 0x7fffffff || height > 0x7fffffff) {
    throw new RangeError('pngClaiming: PNG dimensions are at most 2^31 - 1');
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // colour type: greyscale
  ihdr[10] = 0; // compression
  ihdr[11] = 0; // filter
  ihdr[12] = 0; // interlace: none
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(Math.min(width, 64) + 1))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/* ---------------------------------------------------------------- SVG/HTML */

const svgOpen =
  '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" ' +
  'width="100" height="100" viewBox="0 0 100 100">';

/** A harmless 100×100 SVG: title, linearGradient used via url(#id), rect, circle, path. */
export function safeSvg(): Buffer {
  return Buffer.from(
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `${svgOpen}\n` +
      '  <title>Fixture: safe SVG</title>\n' +
      '  <defs>\n' +
      '    <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">\n' +
      '      <stop offset="0" stop-color="#1e78c8"/>\n' +
      '      <stop offset="1" stop-color="#ffffff"/>\n' +
      '    </linearGradient>\n' +
      '  </defs>\n' +
      '  <rect x="0" y="0" width="100" height="100" fill="url(#sky)"/>\n' +
      '  <circle cx="70" cy="30" r="15" fill="#ffcc00"/>\n' +
      '  <path d="M0 100 L30 60 L55 85 L75 65 L100 100 Z" fill="#2e7d32"/>\n' +
      '</svg>\n',
    'utf8',
  );
}

/** SVG with an inline `<script>` element. */
export function svgWithScript(): Buffer {
  return Buffer.from(
    `${svgOpen}<rect width="100" height="100" fill="#c00"/><script>alert(1)</script></svg>`,
    'utf8',
  );
}

/** SVG with an `onload=` event-handler attribute. */
export function svgWithEventHandler(): Buffer {
  return Buffer.from(
    svgOpen.replace('<svg ', '<svg onload="alert(1)" ') +
      '<rect width="100" height="100" fill="#c00" onclick="alert(2)"/></svg>',
    'utf8',
  );
}

/** SVG with a `<foreignObject>` embedding XHTML (including a script). */
export function svgWithForeignObject(): Buffer {
  return Buffer.from(
    `${svgOpen}<foreignObject x="0" y="0" width="100" height="100">` +
      '<div xmlns="http://www.w3.org/1999/xhtml"><p>hi</p><script>alert(1)</script></div>' +
      '</foreignObject></svg>',
    'utf8',
  );
}

/** SVG referencing external resources (cloud metadata address): `href` and `xlink:href`. */
export function svgWithExternalReference(): Buffer {
  return Buffer.from(
    `${svgOpen}<image x="0" y="0" width="50" height="50" href="http://169.254.169.254/x.png"/>` +
      '<image x="50" y="50" width="50" height="50" xlink:href="http://169.254.169.254/y.png"/>' +
      '</svg>',
    'utf8',
  );
}

/** SVG with an internal DTD subset: an XXE (file://) entity and a billion-laughs expansion. */
export function svgWithDoctypeEntity(): Buffer {
  return Buffer.from(
    '<?xml version="1.0"?>\n' +
      '<!DOCTYPE svg [\n' +
      '  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n' +
      '  <!ENTITY lol "lol">\n' +
      '  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n' +
      '  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">\n' +
      '  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n' +
      ']>\n' +
      `${svgOpen}<text x="0" y="20">&xxe;&lol3;</text></svg>\n`,
    'utf8',
  );
}

/** An HTML document with a script, meant to be uploaded as `x.png` with type image/png. */
export function htmlBytes(): Buffer {
  return Buffer.from('<!DOCTYPE html><html><body><script>alert(1)</script></body></html>', 'utf8');
}

/** A JPEG marker segment: marker, length, body. */
function jpegSegment(marker: number, body: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
}

/** Entropy-coded bits, MSB first, 0xFF stuffed, padded with 1s. */
class EntropyBits {
  private bytes: number[] = [];
  private acc = 0;
  private n = 0;
  put(code: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((code >> i) & 1);
      if (++this.n === 8) {
        this.bytes.push(this.acc);
        if (this.acc === 0xff) this.bytes.push(0);
        this.acc = 0;
        this.n = 0;
      }
    }
  }
  flush(): Buffer {
    if (this.n) this.put((1 << (8 - this.n)) - 1, 8 - this.n);
    return Buffer.from(this.bytes);
  }
}

/**
 * A valid progressive JPEG of `size`×`size` grey pixels (3 components, no subsampling) split into
 * the most scans the standard allows: every AC coefficient of every component in a scan of its
 * own, and each of those refined bit by bit (successive approximation, Al 13 down to 0): 2,647
 * scans. Each scan is a handful of EOB-run symbols, so the file is ~400 KB, yet libjpeg walks
 * every block of the image once per scan.
 */
export function progressiveScanBomb(size: number): Buffer {
  const blocks = Math.ceil(size / 8) ** 2;
  const parts: Buffer[] = [Buffer.from([0xff, 0xd8])];
  parts.push(jpegSegment(0xdb, Buffer.concat([Buffer.from([0]), Buffer.alloc(64, 1)])));
  const sof = [
    8,
    size >> 8,
    size & 255,
    size >> 8,
    size & 255,
    3,
    1,
    0x11,
    0,
    2,
    0x11,
    0,
    3,
    0x11,
    0,
  ];
  parts.push(jpegSegment(0xc2, Buffer.from(sof)));
  // DC table: category 0 alone, code '0'. AC table: EOB0..EOB14, 4-bit codes 0000..1110.
  const dcCounts = Buffer.alloc(16);
  dcCounts[0] = 1;
  parts.push(jpegSegment(0xc4, Buffer.concat([Buffer.from([0x00]), dcCounts, Buffer.from([0])])));
  const acCounts = Buffer.alloc(16);
  acCounts[3] = 15;
  const eobSymbols = Buffer.from(Array.from({ length: 15 }, (_, r) => r << 4));
  parts.push(jpegSegment(0xc4, Buffer.concat([Buffer.from([0x10]), acCounts, eobSymbols])));
  // DC first scan, interleaved: one '0' bit per block.
  parts.push(jpegSegment(0xda, Buffer.from([3, 1, 0, 2, 0, 3, 0, 0, 0, 0])));
  const dcBits = blocks * 3;
  const dc = Buffer.alloc(Math.ceil(dcBits / 8));
  if (dcBits % 8) dc[dc.length - 1] = (1 << (8 - (dcBits % 8))) - 1;
  parts.push(dc);
  // Every AC scan: EOB runs of at most 32767 blocks covering the whole component.
  const bits = new EntropyBits();
  for (let left = blocks; left > 0;) {
    const run = Math.min(left, 32767);
    const r = 31 - Math.clz32(run);
    bits.put(r, 4);
    if (r) bits.put(run - (1 << r), r);
    left -= run;
  }
  const eobRuns = bits.flush();
  for (let c = 1; c <= 3; c++) {
    for (let k = 1; k <= 63; k++) {
      parts.push(jpegSegment(0xda, Buffer.from([1, c, 0x00, k, k, 13])), eobRuns);
      for (let ah = 13; ah >= 1; ah--) {
        parts.push(
          jpegSegment(0xda, Buffer.from([1, c, 0x00, k, k, (ah << 4) | (ah - 1)])),
          eobRuns,
        );
      }
    }
  }
  parts.push(Buffer.from([0xff, 0xd9]));
  return Buffer.concat(parts);
}

/** An ISO BMFF box, and a full box (version and flags first). */
function bmffBox(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length, 0);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
}
function fullBmffBox(type: string, version: number, flags: number, ...parts: Buffer[]): Buffer {
  const vf = Buffer.alloc(4);
  vf.writeUInt32BE(((version << 24) | flags) >>> 0, 0);
  return bmffBox(type, vf, ...parts);
}
const u8 = (v: number) => Buffer.from([v]);
const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
};
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};
function findBox(buf: Buffer, type: string): Buffer {
  const at = buf.indexOf(Buffer.from(type, 'latin1'));
  if (at < 4) throw new Error(`no ${type} box`);
  return buf.subarray(at - 4, at - 4 + buf.readUInt32BE(at - 4));
}

/**
 * A valid AVIF whose primary item is a grid (HEIF/MIAF "grid" derived image) of `cols` identical
 * AV1 tiles of `tileW`×`tileH`, as cameras and avifenc write large images: one tile encoded by
 * sharp, referenced `cols` times. The image is cols·tileW wide, which AV1 and AVIF allow (the grid
 * output may be up to 65535), though sharp writes no AVIF wider than 16384.
 */
export async function gridAvif(tileW: number, tileH: number, cols: number): Promise<Buffer> {
  const tile = await sharp({
    create: { width: tileW, height: tileH, channels: 3, background: '#c33' },
  })
    .avif({ effort: 0 })
    .toBuffer();
  const av1C = findBox(tile, 'av1C');
  const data = findBox(tile, 'mdat').subarray(8);
  const [width, height] = [tileW * cols, tileH];
  const ftyp = bmffBox(
    'ftyp',
    Buffer.from('avif', 'latin1'),
    u32(0),
    Buffer.from('mif1avifmiaf', 'latin1'),
  );
  const hdlr = fullBmffBox(
    'hdlr',
    0,
    0,
    u32(0),
    Buffer.from('pict', 'latin1'),
    u32(0),
    u32(0),
    u32(0),
    u8(0),
  );
  const pitm = fullBmffBox('pitm', 0, 0, u16(1));
  const tiles = Array.from({ length: cols }, (_, i) => 2 + i);
  const iinf = fullBmffBox(
    'iinf',
    0,
    0,
    u16(1 + cols),
    fullBmffBox('infe', 2, 0, u16(1), u16(0), Buffer.from('grid', 'latin1'), u8(0)),
    ...tiles.map((id) =>
      fullBmffBox('infe', 2, 1, u16(id), u16(0), Buffer.from('av01', 'latin1'), u8(0)),
    ),
  );
  const iref = fullBmffBox('iref', 0, 0, bmffBox('dimg', u16(1), u16(cols), ...tiles.map(u16)));
  const ipco = bmffBox(
    'ipco',
    fullBmffBox('ispe', 0, 0, u32(tileW), u32(tileH)), // 1
    fullBmffBox('ispe', 0, 0, u32(width), u32(height)), // 2
    av1C, // 3
    fullBmffBox('pixi', 0, 0, u8(3), u8(8), u8(8), u8(8)), // 4
  );
  const ipma = fullBmffBox(
    'ipma',
    0,
    0,
    u32(1 + cols),
    Buffer.concat([u16(1), u8(2), u8(2), u8(4)]),
    ...tiles.map((id) => Buffer.concat([u16(id), u8(3), u8(1), u8(0x80 | 3), u8(4)])),
  );
  const grid = Buffer.concat([u8(0), u8(0), u8(0), u8(cols - 1), u16(width), u16(height)]);
  const meta = (mdatAt: number) =>
    bmffBox(
      'meta',
      u32(0),
      hdlr,
      pitm,
      fullBmffBox(
        'iloc',
        1,
        0,
        u8(0x44),
        u8(0),
        u16(1 + cols),
        Buffer.concat([u16(1), u16(1), u16(0), u16(1), u32(0), u32(grid.length)]), // in idat
        ...tiles.map((id) =>
          Buffer.concat([u16(id), u16(0), u16(0), u16(1), u32(mdatAt + 8), u32(data.length)]),
        ),
      ),
      iinf,
      iref,
      bmffBox('iprp', ipco, ipma),
      bmffBox('idat', grid),
    );
  const sized = meta(0);
  return Buffer.concat([ftyp, meta(ftyp.length + sized.length), bmffBox('mdat', data)]);
}

/** A pixel of one colour, as PNG. */
const onePixel = (background: string, size = 1) =>
  sharp({ create: { width: size, height: size, channels: 3, background } })
    .png()
    .toBuffer();

/**
 * An animated WebP of `frames` frames of `size`×`size`: sharp's two-frame animation with its first
 * ANMF chunk repeated (48 bytes a frame at 1×1).
 */
export async function manyFrameWebp(frames: number, size = 1): Promise<Buffer> {
  const two = await sharp([await onePixel('#f00', size), await onePixel('#00f', size)], {
    join: { animated: true },
  })
    .webp({ lossless: true })
    .toBuffer();
  const at = two.indexOf('ANMF', 12, 'latin1');
  const length = two.readUInt32LE(at + 4);
  const anmf = two.subarray(at, at + 8 + length + (length & 1));
  const webp = Buffer.concat([two.subarray(0, at), ...Array<Buffer>(frames).fill(anmf)]);
  webp.writeUInt32LE(webp.length - 8, 4);
  return webp;
}
