/**
 * A decoder for the BMP files people actually upload (uncompressed 16-, 24- and 32-bit, 1-, 4-
 * and 8-bit paletted, BI_BITFIELDS with the usual masks), because the bundled libvips cannot read BMP.
 * Returns raw pixels for sharp (RGB, or RGBA for 32-bit BMPs whose header declares an alpha
 * mask and whose alpha is used); anything else is refused.
 */
export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 3 | 4;
}

/**
 * A BMP this decoder cannot read. `unsupported`: a valid file of a kind it does not take (an OS/2
 * header, RLE compression, a depth or bit layout of its own), not a truncated or corrupt one.
 */
export class BmpError extends Error {
  constructor(
    message: string,
    readonly unsupported = false,
  ) {
    super(message);
  }
}

const BI_RGB = 0;
/** Bits a pixel of the paletted depths: monochrome, 16 and 256 colours, as Paint saves them. */
const PALETTED = [1, 4, 8];
const BI_BITFIELDS = 3;

export function bmpDimensions(buf: Buffer): { width: number; height: number } {
  if (buf.length < 26 || buf.toString('latin1', 0, 2) !== 'BM')
    throw new BmpError('not a BMP file');
  const headerSize = buf.readUInt32LE(14);
  if (headerSize < 40) throw new BmpError('an OS/2 BMP header', true);
  if (buf.length < 14 + headerSize) throw new BmpError('truncated BMP header');
  return { width: buf.readInt32LE(18), height: Math.abs(buf.readInt32LE(22)) };
}

export function decodeBmp(buf: Buffer, maxPixels: number): RawImage {
  const { width } = bmpDimensions(buf);
  const pixelOffset = buf.readUInt32LE(10);
  const headerSize = buf.readUInt32LE(14);
  const rawHeight = buf.readInt32LE(22);
  const height = Math.abs(rawHeight);
  const topDown = rawHeight < 0;
  const bpp = buf.readUInt16LE(28);
  const compression = buf.readUInt32LE(30);
  if (width <= 0 || height <= 0) throw new BmpError('BMP has no pixels');
  if (width * height > maxPixels) throw new BmpError('BMP exceeds the pixel limit');
  if (![...PALETTED, 16, 24, 32].includes(bpp)) throw new BmpError(`a depth of ${bpp} bits`, true);
  if (!(compression === BI_RGB || (compression === BI_BITFIELDS && bpp >= 16))) {
    throw new BmpError('compression (RLE, JPEG or PNG inside)', true);
  }

  let palette: Buffer | undefined;
  if (PALETTED.includes(bpp)) {
    const colours = buf.readUInt32LE(46) || 2 ** bpp;
    const start = 14 + headerSize;
    palette = buf.subarray(start, start + colours * 4);
    if (palette.length < colours * 4) throw new BmpError('truncated BMP palette');
  }
  const masks = bpp === 16 ? masks16(buf, headerSize, compression) : undefined;
  const alphaMask =
    compression === BI_BITFIELDS && bpp === 32 ? bitfieldsAlphaMask(buf, headerSize) : 0;

  const rowSize = Math.ceil((bpp * width) / 32) * 4;
  if (pixelOffset + rowSize * height > buf.length) throw new BmpError('truncated BMP');
  // 32-bit BI_RGB's fourth byte is usually unused (0): only a declared alpha mask carries alpha.
  const channels = alphaMask === 0 ? 3 : 4;
  const out = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    const row = pixelOffset + (topDown ? y : height - 1 - y) * rowSize;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * channels;
      if (palette) {
        const p = paletteIndex(buf, row, x, bpp) * 4;
        if (p + 3 > palette.length) throw new BmpError('BMP palette index out of range');
        out[o] = palette[p + 2];
        out[o + 1] = palette[p + 1];
        out[o + 2] = palette[p];
      } else if (masks) {
        const pixel = buf.readUInt16LE(row + x * 2);
        for (let c = 0; c < 3; c++) out[o + c] = scaled(pixel, masks[c]);
      } else {
        const i = row + x * (bpp / 8);
        out[o] = buf[i + 2];
        out[o + 1] = buf[i + 1];
        out[o + 2] = buf[i];
        if (channels === 4) out[o + 3] = buf[i + 3];
      }
    }
  }
  return channels === 4
    ? opaqueIfAlphaUnused(out, width, height)
    : { data: out, width, height, channels };
}

/** A 16-bit BMP's red, green and blue masks: X1R5G5B5 for BI_RGB, 5-5-5 or 5-6-5 as declared. */
function masks16(buf: Buffer, headerSize: number, compression: number): number[] {
  if (compression === BI_RGB) return MASKS_555;
  const masks = colourMasks(buf, headerSize);
  const known = [MASKS_555, MASKS_565].some((m) => m.every((mask, i) => mask === masks[i]));
  if (!known) throw new BmpError('bit masks of its own', true);
  return masks;
}

const MASKS_555 = [0x7c00, 0x03e0, 0x001f];
const MASKS_565 = [0xf800, 0x07e0, 0x001f];

/** The bits of `pixel` under `mask`, as 0-255. */
function scaled(pixel: number, mask: number): number {
  const shift = 31 - Math.clz32(mask & -mask);
  return Math.round((((pixel & mask) >>> shift) * 255) / (mask >>> shift));
}

/** The palette index of pixel `x` of the row at `row`: `bpp` bits, the leftmost pixel highest. */
function paletteIndex(buf: Buffer, row: number, x: number, bpp: number): number {
  if (bpp === 8) return buf[row + x];
  const bit = x * bpp;
  return (buf[row + (bit >> 3)] >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
}

/**
 * RGBA pixels whose alpha is 0 everywhere as opaque RGB: encoders that write a V3-V5 header with
 * an alpha mask often leave every alpha byte 0, and browsers (Chromium's and Firefox's BMP
 * readers) ignore such an alpha rather than show nothing; stored with it, the PNG was blank.
 */
function opaqueIfAlphaUnused(rgba: Buffer, width: number, height: number): RawImage {
  for (let i = 3; i < rgba.length; i += 4) {
    if (rgba[i] !== 0) return { data: rgba, width, height, channels: 4 };
  }
  const rgb = Buffer.alloc(width * height * 3);
  for (let p = 0; p < width * height; p++) rgba.copy(rgb, p * 3, p * 4, p * 4 + 3);
  return { data: rgb, width, height, channels: 3 };
}

/**
 * A BI_BITFIELDS BMP's alpha mask (0: none), once its colour masks are found to be the common
 * BGRA/BGRX layout (anything else is refused). Alpha only where the header (V3 and later)
 * declares its mask: without one the fourth byte is unused (X8R8G8B8), as browsers and Windows
 * read it; taken for alpha, its usual 0 made the whole picture transparent.
 */
function bitfieldsAlphaMask(buf: Buffer, headerSize: number): number {
  const masks = colourMasks(buf, headerSize);
  if (masks[0] !== 0x00ff0000 || masks[1] !== 0x0000ff00 || masks[2] !== 0x000000ff) {
    throw new BmpError('bit masks of its own', true);
  }
  const alphaMask = headerSize >= 56 ? buf.readUInt32LE(66) : 0;
  if (alphaMask !== 0 && alphaMask !== 0xff000000)
    throw new BmpError('an alpha mask of its own', true);
  return alphaMask;
}

/** A BI_BITFIELDS BMP's red, green and blue masks: in a V2+ header, or after a 40-byte one. */
function colourMasks(buf: Buffer, headerSize: number): number[] {
  const at = headerSize >= 52 ? 54 : 14 + headerSize;
  if (at + 12 > buf.length) throw new BmpError('truncated BMP');
  return [buf.readUInt32LE(at), buf.readUInt32LE(at + 4), buf.readUInt32LE(at + 8)];
}
