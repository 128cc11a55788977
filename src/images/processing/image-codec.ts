import sharp, { type Sharp, type SharpOptions } from 'sharp';
import { invalidImage } from './image-problems';
import type { RenditionTransform } from './rendition-presets';

/**
 * The image codec: the only file that uses sharp (libvips), so that the rest of processing/ reads
 * as rules and a codec change stays here. Every failure to read an image is 400 invalid_image.
 */

/** Decoded pixels, upright and sRGB: what every output is encoded from. */
export interface Pixels {
  data: Buffer;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

/** What is decoded: a file, bytes in memory (a sanitised SVG), or raw pixels (a decoded BMP). */
export type CodecInput = { path: string } | { buffer: Buffer } | { raw: Pixels };

/** The header of an image: dimensions and colour model, read before any pixel is decoded. */
export interface ImageHeader {
  width: number;
  height: number;
  /** RGB, RGBA, CMYK, GRAYSCALE or GRAYSCALE_ALPHA. */
  colorMode: string;
  hasAlpha: boolean;
  /** The EXIF orientation the decoder applies, 1 (upright) to 8. */
  orientation: number;
}

/** An encoded output and its dimensions. */
export interface Encoded {
  data: Buffer;
  width: number;
  height: number;
}

/** libvips' operation cache holds decoded images between requests; a server wants flat memory. */
export function disableCodecCache(): void {
  sharp.cache(false);
}

function open(input: CodecInput, options: SharpOptions): Sharp {
  if ('path' in input) return sharp(input.path, options);
  if ('buffer' in input) return sharp(input.buffer, options);
  const { data, width, height, channels } = input.raw;
  return sharp(data, { ...options, raw: { width, height, channels } });
}

/** The header alone: dimensions and colour model. */
export async function readHeader(input: CodecInput): Promise<ImageHeader> {
  const meta = await open(input, { limitInputPixels: false })
    .metadata()
    .catch(() => {
      throw invalidImage();
    });
  if (!meta.width || !meta.height) throw invalidImage();
  const hasAlpha = Boolean(meta.hasAlpha);
  const gray = meta.space === 'b-w' || meta.channels === 1 || (meta.channels === 2 && hasAlpha);
  const colorMode =
    meta.space === 'cmyk'
      ? 'CMYK'
      : gray
        ? hasAlpha
          ? 'GRAYSCALE_ALPHA'
          : 'GRAYSCALE'
        : hasAlpha
          ? 'RGBA'
          : 'RGB';
  const orientation = meta.orientation && meta.orientation <= 8 ? meta.orientation : 1;
  return { width: meta.width, height: meta.height, colorMode, hasAlpha, orientation };
}

/**
 * Decodes once: upright (EXIF orientation applied), sRGB, no metadata (GPS included). With
 * `scaledTo`, the upright image is decoded at that smaller size: JPEG and WebP shrink on load
 * (libjpeg decodes at 1/2, 1/4 or 1/8 scale, reading every byte still), so the whole file is
 * checked at a fraction of the CPU and memory of a full decode.
 */
export async function decode(
  input: CodecInput,
  maxPixels: number,
  scaledTo?: { width: number; height: number },
): Promise<Pixels> {
  try {
    let image = open(input, { failOn: 'error', limitInputPixels: maxPixels }).rotate();
    if (scaledTo) image = image.resize({ ...scaledTo, fit: 'fill' });
    const { data, info } = await image
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, channels: info.channels };
  } catch {
    throw invalidImage();
  }
}

/** Crops to exactly `box` around the most interesting part, enlarging a smaller image. */
export async function fill(
  pixels: Pixels,
  box: { width: number; height: number },
): Promise<Pixels> {
  const { data, info } = await open({ raw: pixels }, {})
    .resize(box.width, box.height, { fit: 'cover', position: sharp.strategy.attention })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** The original, re-encoded in its own format from the decoded pixels. */
export function encodeOriginal(pixels: Pixels, format: string): Promise<Buffer> {
  const image = open({ raw: pixels }, {});
  switch (format) {
    case 'jpeg':
      // libjpeg-turbo with optimised Huffman tables: measured here on a 12 MP photo, a tenth of
      // mozjpeg's CPU for a file about a fifth larger (re-encoding is now the rare case).
      return image.jpeg({ quality: 90, optimiseCoding: true }).toBuffer();
    case 'png':
      return image.png().toBuffer();
    case 'gif':
      return image.gif().toBuffer();
    case 'webp':
      return image.webp({ quality: 90 }).toBuffer();
    case 'avif':
      return image.avif({ quality: 65 }).toBuffer();
    default:
      throw new Error(`no encoder for ${format}`);
  }
}

/**
 * A WebP rendition of the decoded pixels, sized as its preset says; `size`, when the pixels were
 * decoded smaller than the original, is the rendition's size computed from the original's.
 */
export async function encodeRendition(
  pixels: Pixels,
  preset: RenditionTransform,
  size?: { width: number; height: number },
): Promise<Encoded> {
  const box = size ?? preset;
  const { data, info } = await open({ raw: pixels }, {})
    .resize(box.width, box.height, {
      fit: preset.fit === 'inside' ? (size ? 'fill' : 'inside') : 'cover',
      position: preset.fit === 'attention' ? sharp.strategy.attention : 'centre',
      withoutEnlargement: preset.fit === 'inside',
    })
    .webp({ quality: 82 })
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}
