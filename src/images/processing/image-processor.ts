import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { AppError } from '../../common/errors/app.error';
import { BoundedSemaphore, QueueFullError } from '../../common/concurrency/bounded-semaphore';
import type { ImageStepsTimer } from '../../metrics/image-steps.timer';
import { Metrics } from '../../metrics/metrics.service';
import { IMAGES_CONFIG, type ImagesConfig } from '../images.config';
import { BmpError, bmpDimensions, decodeBmp } from './bmp';
import {
  checkFrames,
  decode,
  disableCodecCache,
  encodeAnimatedGif,
  encodeAnimatedRendition,
  encodeOriginal,
  encodeRendition,
  fill,
  allOpaque,
  readHeader,
  transformFrames,
  type CodecInput,
  type Encoded,
  type Frames,
  type ImageHeader,
  type Pixels,
  type TransformSpec,
  type Transformed,
} from './image-codec';
import { decodeSize } from './decode-scale';
import { gifTruncated } from './gif-structure';
import { jpegScanCount, progressiveComplete } from './metadata-strip/jpeg-metadata';
import { webpAnimation } from './metadata-strip/webp-metadata';
import { stripMetadata } from './metadata-strip/strip-metadata';
import {
  incompleteJpeg,
  invalidImage,
  serverBusy,
  svgUnderOnePixel,
  tooManyFramePixels,
  tooManyPixels,
  tooManyScans,
  tooComplex,
  svgTooMuchMemory,
  tooManySvgReferences,
  tooManySvgUses,
  tooMuchSvgMarkup,
  tooWideForAvif,
  typeMismatch,
  unsafeSvg,
  unsupportedBmp,
} from './image-problems';
import {
  BMP_TYPE,
  detectImageType,
  isSvg,
  RENDITION_TYPE,
  storedTypeOf,
  SVG_TYPE,
  type StoredType,
} from './image-type';
import { parseRenditionPresets, renditionSize, type RenditionPreset } from './rendition-presets';
import { humanReadableSize } from './human-size';
import { renderSvg, SvgRenderError, type SvgRenderLimits } from './svg-render';
import { sanitizeSvgOffLoop, svgSanitizerHeapMb, SvgTooMuchMemoryError } from './svg-sanitize';
import { MAX_SVG_DRAWN, MAX_SVG_MARKUP, SvgRejectedError } from './svg-sanitizer';

export {
  readImageFacts,
  type ImageFacts,
  type TransformFit,
  type TransformFormat,
  type TransformSpec,
  type Transformed,
} from './image-codec';

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
  /**
   * A stored original (a rendition rebuild's), accepted before: checked and decoded as it was
   * then, not refused for what a new image is (a JPEG that lost pixels: see decode's `strict`),
   * so that an upgrade does not fail the images it had taken.
   */
  stored?: boolean;
  /**
   * Aborted once nobody waits for the result (the upload's client has gone): an SVG's check and
   * render (each its own process) are then ended at once, the call rejected with the
   * signal's reason. Other formats' work, short and in this process, runs to its end.
   */
  signal?: AbortSignal;
}

/** What the codec reads of an upload; an SVG's sanitised text, and its header read on rendering. */
interface Source {
  input: CodecInput;
  svg?: Buffer;
  header?: ImageHeader;
}

/**
 * The colours reported of a decoded still: a GIF whose header claims transparency (a palette index
 * named transparent, as most encoders name one) but whose pixels are all opaque is RGB (or
 * GRAYSCALE), so that it is served as a JPEG where a browser takes neither WebP nor AVIF.
 */
function coloursOf(
  header: ImageHeader,
  pixels: Pixels,
): Pick<ProcessedImage, 'colorMode' | 'hasAlpha'> {
  if (header.format !== 'gif' || !header.hasAlpha || !allOpaque(pixels)) {
    return { colorMode: header.colorMode, hasAlpha: header.hasAlpha };
  }
  return {
    colorMode: header.colorMode === 'GRAYSCALE_ALPHA' ? 'GRAYSCALE' : 'RGB',
    hasAlpha: false,
  };
}

/** Formats stored as uploaded, metadata removed, where no pixel needs to change. */
const KEPT_FORMATS = new Set(['image/jpeg', 'image/png', 'image/webp']);
/** Formats libvips decodes at 1/2, 1/4 or 1/8 scale directly (shrink-on-load). */
const SCALED_DECODE = new Set(['image/jpeg', 'image/webp']);
const [GIF_TYPE, WEBP_TYPE] = ['image/gif', 'image/webp'];
/** The types whose structure is checked before libvips reads them (checkStructure). */
const CHECKED_STRUCTURES = new Set([GIF_TYPE, WEBP_TYPE]);
/** The least an animation's frame counts for against MAX_IMAGE_PIXELS: 64×64. */
const MIN_FRAME_PIXELS = 64 * 64;
/** On-request formats that keep an animation's frames; the others are made of its first frame. */
const ANIMATED_OUTPUTS = new Set(['webp', 'gif']);
/** An original re-encoded from a crop of an animation (the Ocha API's fill): as encodeOriginal's WebP. */
const FILLED_QUALITY = 90;

/**
 * Turns an untrusted file into a checked image and its renditions. The type comes from the bytes
 * (image-type.ts); the pixel count is checked from the header before decoding. A JPEG, PNG or WebP
 * that needs no pixel change keeps its bytes: only its metadata goes (metadata-strip/: EXIF with
 * GPS, XMP, IPTC, comments, trailing bytes; the ICC profile and orientation stay), and the result
 * is decoded once, at the smallest scale the renditions allow, which checks every byte. Anything
 * else (CMYK, BMP, GIF, AVIF, a rasterised SVG, the Ocha API's fill) is decoded once, upright,
 * sRGB and without metadata, and re-encoded (image-codec.ts, the only file using sharp). An
 * animated GIF or WebP stays animated: see {@link processAnimation}.
 */
@Injectable()
export class ImageProcessor {
  readonly presets: readonly RenditionPreset[];
  private readonly slots: BoundedSemaphore;
  /** The reads of transforms' originals (see {@link transformRead}), bounded apart from the slots. */
  private readonly reads: BoundedSemaphore;
  private readonly maxPixels: number;
  private readonly svgLimits: SvgRenderLimits;
  /** The SVG sanitiser's heap, in MiB, for uploads of MAX_UPLOAD_BYTES. */
  private readonly svgSanitizerHeapMb: number;

  constructor(
    @Inject(IMAGES_CONFIG) config: ImagesConfig,
    // Optional for the processor made outside an application (tests, tools): numbers kept aside.
    @Optional() private readonly metrics: Metrics = new Metrics(),
  ) {
    this.presets = parseRenditionPresets(config.IMAGE_RENDITIONS);
    // One ceiling, IMAGE_PROCESSING_QUEUE_LIMIT, for all work waiting: for a processing slot, or
    // (transforms) for their turn to read their original.
    this.slots = new BoundedSemaphore(
      config.IMAGE_PROCESSING_CONCURRENCY,
      config.IMAGE_PROCESSING_QUEUE_LIMIT,
      config.IMAGE_PROCESSING_QUEUE_BYTES,
      () => this.reads.queued,
    );
    this.reads = new BoundedSemaphore(
      // At most 16 by default: reads waiting for S3's answer hold its connection turns (50).
      config.TRANSFORM_READ_CONCURRENCY ?? Math.min(2 * config.IMAGE_PROCESSING_CONCURRENCY, 16),
      config.IMAGE_PROCESSING_QUEUE_LIMIT,
      Number.POSITIVE_INFINITY,
      () => this.slots.queued,
    );
    this.maxPixels = config.MAX_IMAGE_PIXELS;
    this.svgLimits = {
      maxPixels: config.MAX_IMAGE_PIXELS,
      timeoutMs: config.SVG_RENDER_TIMEOUT_MS,
      maxBytes: config.SVG_RENDER_MAX_BYTES,
    };
    this.svgSanitizerHeapMb = svgSanitizerHeapMb(config.MAX_UPLOAD_BYTES);
    metrics.watchProcessingQueue(() => ({
      active: this.slots.active,
      queued: this.slots.queued,
      queuedBytes: this.slots.queuedWeight,
    }));
    metrics.watchTransformReads(() => ({ active: this.reads.active, queued: this.reads.queued }));
    disableCodecCache();
  }

  get renditionNames(): string[] {
    return this.presets.map((p) => p.name);
  }

  /**
   * Bounded: beyond the queue limits (a count, and the bytes of the files waiting, which are on
   * disk: memory is spent only on the images being processed), 503 server_busy with Retry-After. With `renditions: false`
   * (storage that derives renditions on delivery) only the original is encoded. With `fill`, the
   * original itself is first cropped to exactly those dimensions around its most interesting part
   * (the Ocha API: fill, gravity auto), enlarging a smaller image; an SVG is then rasterised to PNG.
   */
  async process(
    path: string,
    options: ProcessOptions = { renditions: true },
  ): Promise<ProcessedImage> {
    const { size } = await stat(path);
    this.metrics.observeUpload(size);
    return this.inSlot('process', size, () => this.processNow(path, options));
  }

  /**
   * Makes one on-request result, through the same slots/queue limits as uploads (503 server_busy
   * when full), with the pixel (and frames × pixels) limits checked from the header before
   * decoding. The queue weighs it by the bytes read: the file's size, or the buffer's length.
   */
  async transform(
    source: { path: string } | { buffer: Buffer },
    spec: TransformSpec,
  ): Promise<Transformed> {
    const weight = 'path' in source ? (await stat(source.path)).size : source.buffer.length;
    return this.inSlot('transform', weight, () => this.transformNow(source, spec));
  }

  /**
   * {@link transform} of a file that `read` makes (a stored original copied into the spool), which
   * `release` removes after. The read holds no processing slot: it waits on the storage, not the
   * CPU, and read in its slot, a few originals slow to come (S3, or a slow local or NFS disk,
   * answering late, up to STORAGE_TIMEOUT_MS) kept slots idle, refusing uploads and other
   * transforms meanwhile. The reads have a bound of their own instead (TRANSFORM_READ_CONCURRENCY),
   * each held from the read's start until its work has a processing slot: what waits for one,
   * read, is a spooled copy, and there are no more of them on disk than that bound, nor reads open
   * at once on the storage (a burst of first requests for new results, which had all read at once
   * when the read came before any wait). A transform waiting for its read holds nothing (it weighs
   * nothing; the queue's count bounds it). Whether it is taken is decided when its turn to read
   * comes (a full processor refuses it then, unread); read, it waits for its slot weighed by its
   * file's size, as an upload does, refused for those bytes only, never for the count waiting
   * then: two transforms given their turns at once, the processor free, both read, and the second
   * one refused for the slot the first had just taken (no queue) threw its read away. Copies read
   * waiting past IMAGE_PROCESSING_QUEUE_LIMIT are few: their reads' turns bound them. What `read`
   * throws (a making nobody waits for any more) ends the work there. `signal`: once it aborts, the
   * work still waiting, for its read or its slot, leaves the queue (BoundedSemaphore) rejected
   * with its reason, its file released, as does work handed its slot as it aborts; `read` heeds it
   * itself.
   */
  async transformRead(
    read: () => Promise<string>,
    release: (path: string) => Promise<void>,
    spec: TransformSpec,
    signal?: AbortSignal,
  ): Promise<Transformed> {
    const queuedAt = performance.now();
    const reading = await this.busyIfRefused('transform', () =>
      this.reads
        .acquire(0, signal)
        .finally(() =>
          this.metrics.observeTransformReadWait((performance.now() - queuedAt) / 1000),
        ),
    );
    let path: string | undefined;
    try {
      // Its turn come, refused before reading an original the processor would refuse to take
      // (every slot taken and the queue full): not read in full only to be answered 503.
      if (this.slots.wouldRefuse(1)) {
        this.metrics.countServerBusy('transform');
        throw serverBusy();
      }
      path = await read();
      const { size } = await stat(path);
      const file = path;
      // Admitted before its read: it waits for its slot whatever the count waiting now, not
      // refused for it with its original read for nothing.
      return await this.inSlot(
        'transform',
        size,
        () => {
          // In its slot: the read's place is another's.
          reading();
          return this.transformNow({ path: file }, spec, signal);
        },
        { signal, admitted: true },
      );
    } finally {
      reading();
      if (path !== undefined) await release(path);
    }
  }

  /**
   * 503 server_busy, counted as the queue's refusals are, if `operation` would be refused now:
   * every slot taken and the queue full, whatever the bytes (an original weighs at least one);
   * for a transform, also every read slot taken and the queue full (see {@link transformRead}).
   * One ceiling, IMAGE_PROCESSING_QUEUE_LIMIT, counts both waits: work waiting for a processing
   * slot and transforms waiting for their turn to read.
   * Asked before the costly part of preparing the work (reading a stored original from storage
   * into the spool), which a saturated processor would otherwise have done only to refuse it.
   * Cheap (no promise, no allocation), and only a first look: work arriving at the same moment
   * all finds the slot free, so the queues' own checks (in {@link busyIfRefused}) still decide.
   */
  refuseIfBusy(operation: 'process' | 'transform'): void {
    const busy =
      this.slots.wouldRefuse(1) || (operation === 'transform' && this.reads.wouldRefuse());
    if (!busy) return;
    this.metrics.countServerBusy(operation);
    throw serverBusy();
  }

  /**
   * `task` in a processing slot, its wait measured; a full queue is 503 server_busy. `admitted`:
   * its place was decided before (see {@link transformRead}), refused for the queue's bytes only.
   * `signal`: refused with its reason once it aborts, waiting or as the slot is handed over.
   */
  private inSlot<T>(
    operation: 'process' | 'transform',
    weight: number,
    task: () => Promise<T>,
    { signal, admitted = false }: { signal?: AbortSignal; admitted?: boolean } = {},
  ): Promise<T> {
    const queuedAt = performance.now();
    const started = (): Promise<T> => {
      this.metrics.observeProcessingWait((performance.now() - queuedAt) / 1000);
      return task();
    };
    // A task whose signal aborts as the slot is handed to it is never started (its work, a
    // transform nobody waits for, would hold the slot to the end: only an SVG's render heeds it).
    return this.busyIfRefused(operation, () =>
      this.slots.run(started, weight, signal, { admitted, refuseAbortedHandOver: true }),
    );
  }

  /** What `queued` resolves to; its queue full (QueueFullError), 503 server_busy, counted. */
  private async busyIfRefused<T>(
    operation: 'process' | 'transform',
    queued: () => Promise<T>,
  ): Promise<T> {
    try {
      return await queued();
    } catch (error) {
      if (!(error instanceof QueueFullError)) throw error;
      this.metrics.countServerBusy(operation);
      throw serverBusy();
    }
  }

  /** A stored SVG is rendered in a process of its own (see svg-render.ts), then transformed. */
  private async transformNow(
    stored: { path: string } | { buffer: Buffer },
    spec: TransformSpec,
    signal?: AbortSignal,
  ): Promise<Transformed> {
    const steps = this.metrics.imageSteps();
    let source: CodecInput = stored;
    if (await isSvg(stored)) {
      const svg = 'path' in stored ? await readFile(stored.path) : stored.buffer;
      // Its render ended at once (its child killed) once nobody waits for the result.
      source = { raw: (await this.rasterise(svg, signal)).pixels };
    }
    const header = await readHeader(source);
    steps.format = 'raw' in source ? 'svg' : header.format;
    // AVIF, JPEG and PNG results decode the first frame only: only its pixels count.
    const frames = ANIMATED_OUTPUTS.has(spec.format) ? header.pages : 1;
    // A stored original was accepted under the limit in force then: a limit lowered since must
    // not break the URLs handed out for it (400 for a GET done right), so it is decoded at its
    // own size. New uploads, and their renditions, keep to the new limit.
    const maxPixels = Math.max(this.maxPixels, framePixels(frames, header));
    if (!('raw' in source)) await checkScans(header, bytesOf(source), false);
    // A box is at most MAX_IMAGE_PIXELS (transform-plan.ts), but a contain box padding the image
    // may hold more pixels than its frames: an animation made in it past the limit is a still of
    // its first frame, as a rendition is (processAnimation). Against the limit as relaxed above:
    // a box no larger than the original is always made whole, since its result's name does not
    // carry the limit (only an enlarging box's does) and every instance must make the same bytes.
    const made: Frames = framePixels(frames, spec) <= maxPixels ? 'all' : 'first';
    const result = await transformFrames(source, spec, maxPixels, made);
    steps.lap('transform');
    return result;
  }

  /**
   * From the header, before any decoding: a frame of at most MAX_IMAGE_PIXELS, and as many in all
   * the `frames` decoded. An animation's frames are decoded pixels too (libvips holds an animated
   * WebP's all at once), so the one limit bounds what a slot holds, still or animated.
   */
  private checkPixels(header: ImageHeader, frames: number): void {
    if (header.width * header.height > this.maxPixels) throw tooManyPixels(this.maxPixels);
    if (!this.fitsFrames(frames, header)) throw tooManyFramePixels(this.maxPixels, frames);
  }

  /**
   * Whether `frames` frames of `size` are within MAX_IMAGE_PIXELS, decoded or made. A frame of an
   * animation costs a fixed part too, whatever its size (measured here: 28 µs to re-encode as GIF,
   * 82 µs as WebP, the time of a few thousand pixels), so it counts as at least 64×64: 15 MB of
   * 1×1 frames (half a million) would otherwise take a minute.
   */
  private fitsFrames(frames: number, size: { width: number; height: number }): boolean {
    return framePixels(frames, size) <= this.maxPixels;
  }

  /**
   * What libvips gets wrong, from the file's structure, before it reads the file: an animated
   * WebP's frames counted from its chunks (libvips' header read takes time quadratic in them: see
   * webpAnimation) and checked as checkPixels does; a GIF cut inside a block (libvips decodes the
   * frames before the cut and says nothing: see gifTruncated) is 400 invalid_image.
   */
  private async checkStructure(upload: UploadBytes, detected: string): Promise<void> {
    const bytes = await upload.get();
    if (detected === GIF_TYPE) {
      if (gifTruncated(bytes)) throw invalidImage();
      return;
    }
    const animation = webpAnimation(bytes);
    if (animation && !this.fitsFrames(animation.frames, animation)) {
      throw tooManyFramePixels(this.maxPixels, animation.frames);
    }
  }

  /** Each step is timed (image_processing_duration_seconds): a clock read per step. */
  private async processNow(path: string, wanted: ProcessOptions): Promise<ProcessedImage> {
    const steps = this.metrics.imageSteps();
    const detected = await detectImageType(path);
    steps.format = formatLabel(detected);
    if (wanted.declaredType !== undefined && wanted.declaredType !== detected) {
      throw typeMismatch(wanted.declaredType, detected);
    }
    const upload = new UploadBytes(path);
    if (CHECKED_STRUCTURES.has(detected)) await this.checkStructure(upload, detected);
    const source = await this.read(path, detected, wanted.signal);
    const header = source.header ?? (await readHeader(source.input));
    this.checkPixels(header, header.pages);
    await checkScans(header, () => upload.get(), !wanted.stored);
    // Its original is stored re-encoded, at its size, which libheif writes up to 16384 on a side
    // (sharp threw past it: a 927-byte grid of two 9000×2000 tiles answered 500). Filled, it is
    // stored at the fill's size.
    const side = Math.max(header.width, header.height);
    if (header.format === 'avif' && !wanted.fill && side > MAX_AVIF_SIDE) {
      throw tooWideForAvif(MAX_AVIF_SIDE);
    }
    steps.lap('inspect');
    if (isAnimation(header)) {
      const animation = await this.processAnimation(upload, detected, header, wanted);
      steps.lap('animation');
      return animation;
    }
    const kept = wanted.fill ? undefined : await this.strip(upload, detected, header);
    // Not held while decoding: libvips reads the file itself.
    upload.release();
    if (kept) return this.processKept(kept, detected, header, wanted, steps);
    const decoded = await decode(source.input, header, this.maxPixels, { strict: !wanted.stored });
    const colours = coloursOf(header, decoded);
    steps.lap('decode');
    const pixels = wanted.fill ? await fill(decoded, wanted.fill) : decoded;
    if (wanted.fill) steps.lap('fill');
    // A filled SVG is the crop of its rasterisation: stored as PNG, not as the SVG.
    const svg = wanted.fill ? undefined : source.svg;
    const original = await this.encodeOriginal(pixels, storedTypeOf(detected, !!svg), svg);
    steps.lap('original');
    const renditions = wanted.renditions ? await this.encodeRenditions(pixels) : {};
    if (wanted.renditions) steps.lap('renditions');
    return { original, renditions, ...colours };
  }

  /** The upload's bytes without metadata, or undefined where its pixels must change. */
  private async strip(
    upload: UploadBytes,
    detected: string,
    header: ImageHeader,
  ): Promise<Buffer | undefined> {
    if (!KEPT_FORMATS.has(detected) || header.colorMode === 'CMYK') return undefined;
    return stripMetadata(
      storedTypeOf(detected, false).format,
      await upload.get(),
      header.orientation,
    );
  }

  /**
   * The stored bytes `kept` are what is decoded, so the check covers the file as stored; the
   * reported size is the displayed (upright) one, as a browser applying the orientation shows it.
   */
  private async processKept(
    kept: Buffer,
    detected: string,
    header: ImageHeader,
    wanted: ProcessOptions,
    steps: ImageStepsTimer,
  ): Promise<ProcessedImage> {
    steps.lap('strip');
    const turned = header.orientation >= 5;
    const width = turned ? header.height : header.width;
    const height = turned ? header.width : header.height;
    const presets = wanted.renditions ? this.presets : [];
    const scaled = SCALED_DECODE.has(detected) ? decodeSize(presets, width, height) : undefined;
    const pixels = await decode({ buffer: kept }, header, this.maxPixels, {
      scaledTo: scaled,
      strict: !wanted.stored,
    });
    steps.lap('decode');
    const renditions = wanted.renditions
      ? await this.encodeRenditions(pixels, scaled && { width, height })
      : {};
    if (wanted.renditions) steps.lap('renditions');
    const original = {
      ...storedTypeOf(detected, false),
      buffer: kept,
      width,
      height,
      size: kept.length,
      sha256: createHash('sha256').update(kept).digest('hex'),
    };
    steps.lap('original');
    return { original, renditions, colorMode: header.colorMode, hasAlpha: header.hasAlpha };
  }

  /**
   * An animated GIF or WebP stays animated. A WebP keeps its bytes, metadata removed (its frames
   * are checked by decoding every one); a GIF is re-encoded as an animated GIF (its own palette,
   * no comments or application blocks); with `fill`, the original is the crop of every frame,
   * around what draws the eye in the first. The renditions are animated WebPs made from the
   * stored original, one decode each: libvips streams a GIF's frames through the resize and
   * scales a WebP's as it decodes them, where decoded frames kept for every rendition would hold
   * 4 bytes for each pixel of each. Frames enlarged past MAX_IMAGE_PIXELS in all (a rendition or
   * fill box larger than tiny frames) give a still of the first frame instead.
   */
  private async processAnimation(
    upload: UploadBytes,
    detected: string,
    header: ImageHeader,
    wanted: ProcessOptions,
  ): Promise<ProcessedImage> {
    const type = storedTypeOf(detected, false);
    const made = await this.animatedOriginal(upload, type.format, header, wanted.fill);
    upload.release();
    const stored: CodecInput = { buffer: made.data };
    // A rendition enlarging small frames (cover, attention) could make far more pixels than
    // were decoded: past the limit, it is a still of the first frame.
    const plans = (wanted.renditions ? this.presets : []).map((preset) => {
      const size = renditionSize(preset, made.width, made.height);
      const frames: Frames = this.fitsFrames(header.pages, size) ? 'all' : 'first';
      return { preset, frames };
    });
    // A rendition of every frame decodes them all; without one, the one original not made by a
    // decode (a kept WebP) is decoded alone, to check it.
    if (type.format === 'webp' && !wanted.fill && !plans.some((p) => p.frames === 'all')) {
      await checkFrames(stored, this.maxPixels);
    }
    const renditions: Record<string, EncodedImage> = {};
    for (const { preset, frames } of plans) {
      renditions[preset.name] = rendition(
        await encodeAnimatedRendition(stored, preset, this.maxPixels, frames),
      );
    }
    const original = {
      ...type,
      buffer: made.data,
      width: made.width,
      height: made.height,
      size: made.data.length,
      sha256: createHash('sha256').update(made.data).digest('hex'),
    };
    return { original, renditions, colorMode: header.colorMode, hasAlpha: header.hasAlpha };
  }

  /** The stored original of an animation and its frame's size. */
  private async animatedOriginal(
    upload: UploadBytes,
    format: string,
    header: ImageHeader,
    fill: ProcessOptions['fill'],
  ): Promise<Encoded> {
    if (fill) {
      const spec: TransformSpec = {
        ...fill,
        fit: 'attention',
        format: format as TransformSpec['format'],
        quality: FILLED_QUALITY,
      };
      // Enlarged to the box, small frames could make far more pixels than were decoded.
      const frames: Frames = this.fitsFrames(header.pages, fill) ? 'all' : 'first';
      return transformFrames({ path: upload.path }, spec, this.maxPixels, frames);
    }
    if (format === 'gif') return encodeAnimatedGif({ path: upload.path }, this.maxPixels);
    // Upright (see isAnimation), an animated WebP is always kept, every frame's chunk with it.
    const kept = stripMetadata(format, await upload.get(), 1);
    if (!kept) throw invalidImage();
    return { data: kept, width: header.width, height: header.height };
  }

  /** The codec's input: the file itself, a sanitised SVG's rendering, or a BMP decoded here. */
  private async read(path: string, detected: string, signal?: AbortSignal): Promise<Source> {
    if (detected === SVG_TYPE) {
      const svg = await sanitize(await readFile(path), this.svgSanitizerHeapMb, signal);
      const { pixels, header } = await this.rasterise(svg, signal);
      return { input: { raw: pixels }, svg, header };
    }
    if (detected === BMP_TYPE) return { input: { raw: this.decodeBmp(await readFile(path)) } };
    return { input: { path } };
  }

  /**
   * An SVG's pixels, rendered in a child process: killed past SVG_RENDER_TIMEOUT_MS or
   * SVG_RENDER_MAX_BYTES, or stopped at librsvg's limit of referenced elements (400
   * image_too_complex). Like every other format, the pixel count is
   * checked before rendering (the child measures, then renders only within MAX_IMAGE_PIXELS).
   */
  private async rasterise(
    svg: Buffer,
    signal?: AbortSignal,
  ): Promise<{ pixels: Pixels; header: ImageHeader }> {
    const rendered = await renderSvg(svg, this.svgLimits, signal).catch((error: unknown) => {
      if (!(error instanceof SvgRenderError)) throw error;
      if (error.reason === 'references') throw tooManySvgReferences(MAX_SVG_DRAWN);
      if (error.reason === 'subpixel') throw svgUnderOnePixel();
      if (error.reason !== 'unreadable') this.metrics.countSvgRenderStopped(error.reason);
      if (error.reason === 'timeout') {
        throw tooComplex('timeout', `${this.svgLimits.timeoutMs / 1000} s`);
      }
      if (error.reason === 'memory') {
        throw tooComplex('memory', humanReadableSize(this.svgLimits.maxBytes));
      }
      throw invalidImage();
    });
    const { width, height, channels, data } = rendered;
    if (!data) throw tooManyPixels(this.maxPixels);
    const pixels = { data, width, height, channels };
    // The header of the rendered pixels (colour model, alpha), read as any image's is.
    return { pixels, header: { ...(await readHeader({ raw: pixels })), format: 'svg' } };
  }

  /** Like every other format: the pixel count from the header, before decoding. */
  private decodeBmp(bmp: Buffer): Pixels {
    try {
      const { width, height } = bmpDimensions(bmp);
      if (width * height > this.maxPixels) throw tooManyPixels(this.maxPixels);
      return decodeBmp(bmp, this.maxPixels);
    } catch (error) {
      if (error instanceof AppError) throw error;
      if (error instanceof BmpError && error.unsupported) throw unsupportedBmp(error.message);
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

  /** `original`: the size of the original when `pixels` were decoded smaller than it. */
  private async encodeRenditions(
    pixels: Pixels,
    original?: { width: number; height: number },
  ): Promise<Record<string, EncodedImage>> {
    const renditions: Record<string, EncodedImage> = {};
    for (const preset of this.presets) {
      const size = original && renditionSize(preset, original.width, original.height);
      renditions[preset.name] = rendition(await encodeRendition(pixels, preset, size));
    }
    return renditions;
  }
}

/**
 * Frames that stay an animation: an upright GIF or WebP of more than one (libvips turns a strip
 * of frames as one image, so an animated WebP with an EXIF orientation, which no known encoder
 * writes, is stored as its first frame, upright, as a still).
 */
function isAnimation(header: ImageHeader): boolean {
  return header.pages > 1 && header.orientation === 1;
}

/**
 * More scans than any encoder makes (libjpeg's progressive script has 10, mozjpeg's a dozen or
 * so, hand-tuned ones a few dozen), where each costs a pass over the image to decode: a
 * progressive JPEG past it is 400 image_too_complex, read from its markers before any decoding.
 */
export const MAX_JPEG_SCANS = 100;

/** The longest side libheif encodes an AVIF to. */
const MAX_AVIF_SIDE = 16384;

/**
 * Refuses a progressive JPEG of more than MAX_JPEG_SCANS scans (only those can have many), and,
 * `complete` (a new image), one whose scans stop before every coefficient is whole (see
 * progressiveComplete): cut between two scans, it decodes without a warning, blurred. A stored
 * original is transformed as it was accepted.
 */
async function checkScans(
  header: ImageHeader,
  bytes: () => Promise<Buffer>,
  complete: boolean,
): Promise<void> {
  if (!header.progressive) return;
  const jpeg = await bytes();
  if (jpegScanCount(jpeg, MAX_JPEG_SCANS) > MAX_JPEG_SCANS) {
    throw tooManyScans(MAX_JPEG_SCANS);
  }
  if (complete && !progressiveComplete(jpeg)) throw incompleteJpeg();
}

/** A stored original's bytes, read when asked for. */
function bytesOf(source: { path: string } | { buffer: Buffer }): () => Promise<Buffer> {
  return 'path' in source ? () => readFile(source.path) : () => Promise.resolve(source.buffer);
}

/**
 * An upload's bytes, read from disk once, when a step first asks for them: the structure checks,
 * the scan count and the metadata strip each read the whole file, and a progressive JPEG, a WebP
 * or an animation asked for it twice. Released before decoding, which libvips does from the file.
 */
export class UploadBytes {
  private bytes?: Promise<Buffer>;

  constructor(readonly path: string) {}

  get(): Promise<Buffer> {
    return (this.bytes ??= readFile(this.path));
  }

  release(): void {
    this.bytes = undefined;
  }
}

/** A detected type as a metric label: jpeg, png, gif, webp, avif, bmp or svg. */
function formatLabel(detected: string): string {
  return detected.replace(/^image\//, '').replace(/\+xml$/, '');
}

function rendition(out: Encoded): EncodedImage {
  return {
    ...RENDITION_TYPE,
    buffer: out.data,
    width: out.width,
    height: out.height,
    size: out.data.length,
  };
}

/**
 * The sanitised SVG, checked off the event loop (see sanitizeSvgOffLoop) under a heap of `heapMb`
 * MiB; ended at once, rejected with its reason, once `signal` aborts.
 */
async function sanitize(input: Buffer, heapMb: number, signal?: AbortSignal): Promise<Buffer> {
  try {
    return await sanitizeSvgOffLoop(input, { heapMb, signal });
  } catch (error) {
    if (error instanceof SvgRejectedError && error.reason === 'too_complex') {
      throw tooMuchSvgMarkup(MAX_SVG_MARKUP);
    }
    if (error instanceof SvgRejectedError && error.reason === 'too_many_uses') {
      throw tooManySvgUses(MAX_SVG_DRAWN);
    }
    if (error instanceof SvgTooMuchMemoryError) throw svgTooMuchMemory(error.heapMb);
    if (error instanceof SvgRejectedError) throw unsafeSvg(error.message, error.reason);
    throw error;
  }
}

/** The pixels `frames` frames of `size` count for (see ImageProcessor.fitsFrames). */
function framePixels(frames: number, size: { width: number; height: number }): number {
  const pixels = size.width * size.height;
  return frames === 1 ? pixels : frames * Math.max(pixels, MIN_FRAME_PIXELS);
}
