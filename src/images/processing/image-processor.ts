import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { Injectable } from '@nestjs/common';
import { fileTypeFromFile } from 'file-type';
import sharp, { type Sharp, type SharpOptions } from 'sharp';
import { AppError } from '../../common/errors/app.error';
import { BoundedSemaphore, QueueFullError } from '../../common/concurrency/bounded-semaphore';
import { EnvironmentVariables } from '../../config/env.validation';
import { bmpDimensions, decodeBmp } from './bmp';
import { parseRenditionPresets, type RenditionPreset } from './rendition-presets';
import { sanitizeSvg, SvgRejectedError } from './svg-sanitizer';

export interface EncodedImage {
  buffer: Buffer;
  /** jpeg, png, gif, webp, avif or svg. */
  format: string;
  mimeType: string;
  extension: string;
  width: number;
  height: number;
  size: number;
}

export interface ProcessedImage {
  original: EncodedImage & { sha256: string };
  renditions: Record<string, EncodedImage>;
  /** Of the upload as received: RGB, RGBA, CMYK, GRAYSCALE or GRAYSCALE_ALPHA. */
  colorMode: string;
  hasAlpha: boolean;
}

const RASTER: Record<string, { format: string; mimeType: string; extension: string }> = {
  'image/jpeg': { format: 'jpeg', mimeType: 'image/jpeg', extension: 'jpg' },
  'image/png': { format: 'png', mimeType: 'image/png', extension: 'png' },
  'image/gif': { format: 'gif', mimeType: 'image/gif', extension: 'gif' },
  'image/webp': { format: 'webp', mimeType: 'image/webp', extension: 'webp' },
  'image/avif': { format: 'avif', mimeType: 'image/avif', extension: 'avif' },
  // BMP is accepted and stored as PNG.
  'image/bmp': { format: 'png', mimeType: 'image/png', extension: 'png' },
};

export interface ProcessOptions {
  /** Encode the renditions (false where the storage derives them on delivery). */
  renditions: boolean;
  /** Crop the original to fill exactly these dimensions, around its most interesting part. */
  fill?: { width: number; height: number };
  /** The type the client declared (a data URI's): the bytes must be of it, else 400. */
  declaredType?: string;
}

const rawOf = (info: sharp.OutputInfo) => ({
  width: info.width,
  height: info.height,
  channels: info.channels,
});

const SVG = { format: 'svg', mimeType: 'image/svg+xml', extension: 'svg' };
const RENDITION = { format: 'webp', mimeType: 'image/webp', extension: 'webp' };

/**
 * Turns an untrusted file into a checked, normalised image and its renditions. The type comes from
 * the bytes; the pixel count is checked from the header before decoding; the image is decoded once,
 * oriented upright (EXIF orientation 1-8), converted to sRGB and stripped of all metadata (GPS
 * included) before anything is encoded. The only file that uses sharp.
 */
@Injectable()
export class ImageProcessor {
  readonly presets: readonly RenditionPreset[];
  private readonly slots: BoundedSemaphore;
  private readonly maxPixels: number;

  constructor(env: EnvironmentVariables) {
    this.presets = parseRenditionPresets(env.IMAGE_RENDITIONS);
    this.slots = new BoundedSemaphore(
      env.IMAGE_PROCESSING_CONCURRENCY,
      env.IMAGE_PROCESSING_QUEUE_LIMIT,
    );
    this.maxPixels = env.MAX_IMAGE_PIXELS;
    // libvips' operation cache holds decoded images between requests; a server wants flat memory.
    sharp.cache(false);
  }

  get renditionNames(): string[] {
    return this.presets.map((p) => p.name);
  }

  /**
   * Bounded: beyond the queue limit, 503 server_busy with Retry-After. With `renditions: false`
   * (storage that derives renditions on delivery) only the original is encoded. With `fill`, the
   * original itself is first cropped to exactly those dimensions around its most interesting part
   * (the Ocha API: fill, gravity auto), enlarging a smaller image; an SVG is then rasterised to PNG.
   */
  async process(
    path: string,
    options: ProcessOptions = { renditions: true },
  ): Promise<ProcessedImage> {
    try {
      return await this.slots.run(() => this.processNow(path, options));
    } catch (error) {
      if (error instanceof QueueFullError) {
        throw new AppError(
          'server_busy',
          'Too many images are being processed; retry shortly.',
          [],
          {
            'Retry-After': '5',
          },
        );
      }
      throw error;
    }
  }

  private async processNow(path: string, wanted: ProcessOptions): Promise<ProcessedImage> {
    const detected = await this.detect(path);
    if (wanted.declaredType !== undefined && wanted.declaredType !== detected) {
      throw new AppError(
        'image_type_mismatch',
        `The image was declared as ${wanted.declaredType}, but it is ${detected}.`,
        [{ field: 'image', message: `declared ${wanted.declaredType}, is ${detected}` }],
      );
    }
    let input: Buffer | string = path;
    let options: SharpOptions = {};
    let svg: Buffer | undefined;
    if (detected === 'image/svg+xml') {
      svg = this.sanitize(await readFile(path));
      input = svg;
    } else if (detected === 'image/bmp') {
      const bmp = await readFile(path);
      let raw;
      try {
        // Like every other format: the pixel count from the header, before decoding.
        const { width, height } = bmpDimensions(bmp);
        if (width * height > this.maxPixels) throw this.tooManyPixels();
        raw = decodeBmp(bmp, this.maxPixels);
      } catch (error) {
        if (error instanceof AppError) throw error;
        throw this.invalid();
      }
      input = raw.data;
      options = { raw: { width: raw.width, height: raw.height, channels: raw.channels } };
    }

    // The header alone: dimensions and colour model, before any pixel is decoded.
    const meta = await sharp(input, { ...options, limitInputPixels: false })
      .metadata()
      .catch(() => {
        throw this.invalid();
      });
    if (!meta.width || !meta.height) throw this.invalid();
    if (meta.width * meta.height > this.maxPixels) throw this.tooManyPixels();
    const hasAlpha = Boolean(meta.hasAlpha);
    const colorMode =
      meta.space === 'cmyk'
        ? 'CMYK'
        : meta.space === 'b-w' || meta.channels === 1 || (meta.channels === 2 && hasAlpha)
          ? hasAlpha
            ? 'GRAYSCALE_ALPHA'
            : 'GRAYSCALE'
          : hasAlpha
            ? 'RGBA'
            : 'RGB';

    // Decode once: upright, sRGB, no metadata; every output is encoded from these pixels.
    let decoded: { data: Buffer; info: sharp.OutputInfo };
    try {
      decoded = await sharp(input, {
        ...options,
        failOn: 'error',
        limitInputPixels: this.maxPixels,
      })
        .rotate()
        .toColourspace('srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
    } catch {
      throw this.invalid();
    }
    if (wanted.fill) {
      const { data, info } = decoded;
      decoded = await sharp(data, { raw: rawOf(info) })
        .resize(wanted.fill.width, wanted.fill.height, {
          fit: 'cover',
          position: sharp.strategy.attention,
        })
        .raw()
        .toBuffer({ resolveWithObject: true });
      svg = undefined;
    }
    const { data, info } = decoded;
    const pixels = (): Sharp => sharp(data, { raw: rawOf(info) });

    const originalType = svg
      ? SVG
      : detected === 'image/svg+xml'
        ? RASTER['image/png']
        : RASTER[detected];
    const originalBuffer = svg ?? (await this.encodeOriginal(pixels(), originalType.format));
    const original = {
      ...originalType,
      buffer: originalBuffer,
      width: info.width,
      height: info.height,
      size: originalBuffer.length,
      sha256: createHash('sha256').update(originalBuffer).digest('hex'),
    };

    const renditions: Record<string, EncodedImage> = {};
    for (const preset of wanted.renditions ? this.presets : []) {
      const out = await pixels()
        .resize(preset.width, preset.height, {
          fit: preset.fit === 'inside' ? 'inside' : 'cover',
          position: preset.fit === 'attention' ? sharp.strategy.attention : 'centre',
          withoutEnlargement: preset.fit === 'inside',
        })
        .webp({ quality: 82 })
        .toBuffer({ resolveWithObject: true });
      renditions[preset.name] = {
        ...RENDITION,
        buffer: out.data,
        width: out.info.width,
        height: out.info.height,
        size: out.data.length,
      };
    }
    return { original, renditions, colorMode, hasAlpha };
  }

  private encodeOriginal(image: Sharp, format: string): Promise<Buffer> {
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

  /**
   * The type from the bytes: file-type's signatures, and SVG recognised as XML with an svg root.
   * One of the accepted types (image/jpeg, image/png, image/gif, image/webp, image/avif, image/bmp,
   * image/svg+xml), else 400 unsupported_image_type.
   */
  private async detect(path: string): Promise<string> {
    const type = await fileTypeFromFile(path);
    if (type && RASTER[type.mime]) return type.mime;
    if (!type || type.mime === 'application/xml') {
      if (await this.looksLikeSvg(path)) return 'image/svg+xml';
    }
    throw new AppError(
      'unsupported_image_type',
      'The file is not a JPEG, PNG, GIF, WebP, AVIF, BMP or SVG image.',
      [{ field: 'image', message: `unsupported type${type ? ` (${type.mime})` : ''}` }],
    );
  }

  private async looksLikeSvg(path: string): Promise<boolean> {
    const handle = await open(path, 'r');
    try {
      const head = Buffer.alloc(4096);
      const { bytesRead } = await handle.read(head, 0, head.length, 0);
      const text = head
        .subarray(0, bytesRead)
        .toString('utf8')
        .replace(/^\uFEFF/, '');
      // Markup with an <svg> element near the top; the sanitiser then decides whether it is safe.
      return text.trimStart().startsWith('<') && /<svg[\s>/]/i.test(text);
    } finally {
      await handle.close();
    }
  }

  private sanitize(input: Buffer): Buffer {
    try {
      return sanitizeSvg(input);
    } catch (error) {
      if (error instanceof SvgRejectedError) {
        throw new AppError('unsafe_svg', `The SVG was refused: ${error.message}`, [
          { field: 'image', message: `SVG refused (${error.reason})` },
        ]);
      }
      throw error;
    }
  }

  private invalid(): AppError {
    return new AppError(
      'invalid_image',
      'The image could not be decoded: it is truncated or corrupt.',
      [{ field: 'image', message: 'is truncated or corrupt' }],
    );
  }

  private tooManyPixels(): AppError {
    return new AppError(
      'image_too_many_pixels',
      `The image has more than ${this.maxPixels} pixels.`,
      [{ field: 'image', message: `more than ${this.maxPixels} pixels` }],
    );
  }
}
