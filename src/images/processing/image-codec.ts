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
  return { width: meta.width, height: meta.height, colorMode, hasAlpha };
}

/** Decodes once: upright (EXIF orientation applied), sRGB, no metadata (GPS included). */
export async function decode(input: CodecInput, maxPixels: number): Promise<Pixels> {
  try {
    const { data, info } = await open(input, { failOn: 'error', limitInputPixels: maxPixels })
      .rotate()
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
      return image.jpeg({ quality: 90, mozjpeg: true }).toBuffer();
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

/** A WebP rendition of the decoded pixels, sized as its preset says. */
export async function encodeRendition(
  pixels: Pixels,
  preset: RenditionTransform,
): Promise<Encoded> {
  const { data, info } = await open({ raw: pixels }, {})
    .resize(preset.width, preset.height, {
      fit: preset.fit === 'inside' ? 'inside' : 'cover',
      position: preset.fit === 'attention' ? sharp.strategy.attention : 'centre',
      withoutEnlargement: preset.fit === 'inside',
    })
    .webp({ quality: 82 })
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}
