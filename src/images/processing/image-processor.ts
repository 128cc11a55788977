import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Inject, Injectable } from '@nestjs/common';
import { AppError } from '../../common/errors/app.error';
import { BoundedSemaphore, QueueFullError } from '../../common/concurrency/bounded-semaphore';
import { IMAGES_CONFIG, type ImagesConfig } from '../images.config';
import { bmpDimensions, decodeBmp } from './bmp';
import {
  decode,
  disableCodecCache,
  encodeOriginal,
  encodeRendition,
  fill,
  readHeader,
  type CodecInput,
  type Pixels,
} from './image-codec';
import { invalidImage, serverBusy, tooManyPixels, typeMismatch, unsafeSvg } from './image-problems';
import {
  BMP_TYPE,
  detectImageType,
  RENDITION_TYPE,
  storedTypeOf,
  SVG_TYPE,
  type StoredType,
} from './image-type';
import { parseRenditionPresets, type RenditionPreset } from './rendition-presets';
import { sanitizeSvg, SvgRejectedError } from './svg-sanitizer';

export interface EncodedImage extends StoredType {
  buffer: Buffer;
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

export interface ProcessOptions {
  /** Encode the renditions (false where the storage derives them on delivery). */
  renditions: boolean;
  /** Crop the original to fill exactly these dimensions, around its most interesting part. */
  fill?: { width: number; height: number };
  /** The type the client declared (a data URI's): the bytes must be of it, else 400. */
  declaredType?: string;
}

/** What the codec reads of an upload, and the sanitised SVG when it is one. */
interface Source {
  input: CodecInput;
  svg?: Buffer;
}

/**
 * Turns an untrusted file into a checked, normalised image and its renditions. The type comes from
 * the bytes (image-type.ts); the pixel count is checked from the header before decoding; the image
 * is decoded once, oriented upright (EXIF orientation 1-8), converted to sRGB and stripped of all
 * metadata (GPS included) before anything is encoded (image-codec.ts, the only file using sharp).
 */
@Injectable()
export class ImageProcessor {
  readonly presets: readonly RenditionPreset[];
  private readonly slots: BoundedSemaphore;
  private readonly maxPixels: number;

  constructor(@Inject(IMAGES_CONFIG) config: ImagesConfig) {
    this.presets = parseRenditionPresets(config.IMAGE_RENDITIONS);
    this.slots = new BoundedSemaphore(
      config.IMAGE_PROCESSING_CONCURRENCY,
      config.IMAGE_PROCESSING_QUEUE_LIMIT,
    );
    this.maxPixels = config.MAX_IMAGE_PIXELS;
    disableCodecCache();
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
      if (error instanceof QueueFullError) throw serverBusy();
      throw error;
    }
  }

  private async processNow(path: string, wanted: ProcessOptions): Promise<ProcessedImage> {
    const detected = await detectImageType(path);
    if (wanted.declaredType !== undefined && wanted.declaredType !== detected) {
      throw typeMismatch(wanted.declaredType, detected);
    }
    const source = await this.read(path, detected);
    const { width, height, colorMode, hasAlpha } = await readHeader(source.input);
    if (width * height > this.maxPixels) throw tooManyPixels(this.maxPixels);
    const decoded = await decode(source.input, this.maxPixels);
    const pixels = wanted.fill ? await fill(decoded, wanted.fill) : decoded;
    // A filled SVG is the crop of its rasterisation: stored as PNG, not as the SVG.
    const svg = wanted.fill ? undefined : source.svg;
    const original = await this.encodeOriginal(pixels, storedTypeOf(detected, !!svg), svg);
    const renditions = wanted.renditions ? await this.encodeRenditions(pixels) : {};
    return { original, renditions, colorMode, hasAlpha };
  }

  /** The codec's input: the file itself, a sanitised SVG, or a BMP decoded here. */
  private async read(path: string, detected: string): Promise<Source> {
    if (detected === SVG_TYPE) {
      const svg = sanitize(await readFile(path));
      return { input: { buffer: svg }, svg };
    }
    if (detected === BMP_TYPE) return { input: { raw: this.decodeBmp(await readFile(path)) } };
    return { input: { path } };
  }

  /** Like every other format: the pixel count from the header, before decoding. */
  private decodeBmp(bmp: Buffer): Pixels {
    try {
      const { width, height } = bmpDimensions(bmp);
      if (width * height > this.maxPixels) throw tooManyPixels(this.maxPixels);
      return decodeBmp(bmp, this.maxPixels);
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw invalidImage();
    }
  }

  private async encodeOriginal(
    pixels: Pixels,
    type: StoredType,
    svg: Buffer | undefined,
  ): Promise<ProcessedImage['original']> {
    const buffer = svg ?? (await encodeOriginal(pixels, type.format));
    return {
      ...type,
      buffer,
      width: pixels.width,
      height: pixels.height,
      size: buffer.length,
      sha256: createHash('sha256').update(buffer).digest('hex'),
    };
  }

  private async encodeRenditions(pixels: Pixels): Promise<Record<string, EncodedImage>> {
    const renditions: Record<string, EncodedImage> = {};
    for (const preset of this.presets) {
      const out = await encodeRendition(pixels, preset);
      renditions[preset.name] = {
        ...RENDITION_TYPE,
        buffer: out.data,
        width: out.width,
        height: out.height,
        size: out.data.length,
      };
    }
    return renditions;
  }
}

function sanitize(input: Buffer): Buffer {
  try {
    return sanitizeSvg(input);
  } catch (error) {
    if (error instanceof SvgRejectedError) throw unsafeSvg(error.message, error.reason);
    throw error;
  }
}
