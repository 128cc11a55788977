import { execFileSync, type ForkOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import {
  animatedPng,
  bmp,
  deepProfiledPngs,
  exifHasGps,
  gridAvif,
  jpegCutAndClosed,
  noiseBytes,
  progressiveScanBomb,
} from '../../../test/support/fixtures';
import { eventually, eventuallyRead } from '../../../test/support/eventually';
import { childProcesses } from '../../../test/support/process';
import { AppError } from '../../common/errors/app.error';
import { validateEnv } from '../../config/env.validation';
import { Metrics } from '../../metrics/metrics.service';
import {
  ImageProcessor,
  readImageFacts,
  type ProcessedImage,
  type TransformFit,
  type TransformFormat,
} from './image-processor';
import { parseRenditionPresets, renditionSize } from './rendition-presets';

type Colour = 'red' | 'blue' | 'green';
/** How many wait for a processing slot, and how many transforms wait to read their original. */
type Queues = { processing: number; reads: number };
type Corners = { tl: Colour; tr: Colour; bl: Colour; br: Colour };

/**
 * 60×40 stored pixels: left half red, right half blue, and the top-left quadrant green, so that
 * no two of the eight orientations display alike.
 */
function redBlue(): sharp.Sharp {
  const width = 60;
  const height = 40;
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      if (x < width / 2 && y < height / 2) raw[i + 1] = 255;
      else if (x < width / 2) raw[i] = 255;
      else raw[i + 2] = 255;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } });
}

function noisyRgb(width: number, height: number, noise: number): sharp.Sharp {
  return sharp(noiseBytes(width * height * 3, noise), { raw: { width, height, channels: 3 } });
}

/** Colours a few pixels in from each corner (JPEG blurs the edges). */
async function corners(image: Buffer): Promise<Corners> {
  const { data, info } = await sharp(image)
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const at = (x: number, y: number): Colour => {
    const i = (y * info.width + x) * info.channels;
    const [r, b] = [data[i], data[i + 2]];
    if (r > 180 && b < 80) return 'red';
    if (b > 180 && r < 80) return 'blue';
    if (data[i + 1] > 180 && r < 80 && b < 80) return 'green';
    throw new Error(`pixel (${x},${y}) is neither red nor blue: rgb(${r},${data[i + 1]},${b})`);
  };
  const inset = 4;
  const right = info.width - 1 - inset;
  const bottom = info.height - 1 - inset;
  return {
    tl: at(inset, inset),
    tr: at(right, inset),
    bl: at(inset, bottom),
    br: at(right, bottom),
  };
}

/**
 * The red channel's standard deviation in a region of the (first frame of the) image: cut out
 * first, since sharp's stats() reads the input and ignores any operation queued before it.
 */
async function stdevOf(
  image: Buffer,
  region: { left: number; top: number; width: number; height: number },
): Promise<number> {
  const cut = await sharp(image).extract(region).png().toBuffer();
  return (await sharp(cut).stats()).channels[0].stdev;
}

/** No EXIF, or one whose only field is the orientation (the minimal block originals keep). */
function orientationOnly(exif: Buffer | undefined): boolean {
  if (exif === undefined) return true;
  const tiff = exif.subarray(exif.indexOf('MM\0*', 0, 'latin1'));
  return tiff.length === 26 && tiff.readUInt16BE(8) === 1 && tiff.readUInt16BE(10) === 0x0112;
}

/** `webp` with a byte of its last frame's VP8 data changed: its header still reads. */
function corruptLastFrame(webp: Buffer): Buffer {
  const corrupt = Buffer.from(webp);
  const lastFrame = corrupt.lastIndexOf('ANMF', undefined, 'latin1');
  const vp8 = corrupt.indexOf('VP8', lastFrame, 'latin1');
  expect(lastFrame > 0 && vp8 > 0).toBe(true);
  for (let i = vp8 + 20; i < vp8 + 60 && i < corrupt.length; i++) corrupt[i] ^= 0xa5;
  return corrupt;
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected process() to reject');
}

const DELAYS = [80, 120, 160, 200];

/**
 * An animation of 4 frames with distinct delays, looping 3 times: each frame its own colour, with
 * a noisy square that moves across it (the frames must differ, or encoders merge them).
 */
function animation(format: 'gif' | 'webp', width: number, height: number): Promise<Buffer> {
  const frames = DELAYS.length;
  const strip = Buffer.alloc(width * height * frames * 3);
  const noise = noiseBytes(strip.length, 17);
  const side = Math.floor(Math.min(width, height) / 3);
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = ((f * height + y) * width + x) * 3;
        const inSquare = x >= f * side && x < (f + 1) * side && y < side;
        if (inSquare) noise.copy(strip, i, i, i + 3);
        else strip.set([200, 50 * f, 100], i);
      }
    }
  }
  const image = sharp(strip, {
    raw: { width, height: height * frames, channels: 3, pageHeight: height },
  });
  const options = { delay: DELAYS, loop: 3 };
  return (format === 'gif' ? image.gif(options) : image.webp(options)).toBuffer();
}

async function animationOf(
  buffer: Buffer,
): Promise<{ format?: string; pages?: number; delay?: number[]; loop?: number }> {
  const { format, pages, delay, loop } = await sharp(buffer).metadata();
  return { format, pages, delay, loop };
}

function allBuffers(result: ProcessedImage): [string, Buffer][] {
  return [
    ['original', result.original.buffer],
    ...Object.entries(result.renditions).map(([name, r]): [string, Buffer] => [name, r.buffer]),
  ];
}

describe(ImageProcessor.name, () => {
  let dir: string;
  let counter = 0;

  const write = (name: string, bytes: Buffer): string => {
    const file = path.join(dir, `${++counter}-${name}`);
    fs.writeFileSync(file, bytes);
    return file;
  };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-processor-'));
  });

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('EXIF orientation', () => {
    // Stored corners: top-left green, top-right blue, bottom-left red, bottom-right blue.
    // Displayed = stored transformed by the tag; the four common ones worked out by hand:
    //   1 identity              → TL green, TR blue,  BL red,   BR blue   (60×40)
    //   3 rotate 180°           → TL blue,  TR red,   BL blue,  BR green  (60×40)
    //   6 rotate 90° clockwise  → TL red,   TR green, BL blue,  BR blue   (40×60)
    //   8 rotate 90° anticlock. → TL blue,  TR blue,  BL green, BR red    (40×60)
    // All eight are also checked against sharp's own auto-orientation, and must differ.
    const byHand: Record<number, Corners> = {
      1: { tl: 'green', tr: 'blue', bl: 'red', br: 'blue' },
      3: { tl: 'blue', tr: 'red', bl: 'blue', br: 'green' },
      6: { tl: 'red', tr: 'green', bl: 'blue', br: 'blue' },
      8: { tl: 'blue', tr: 'blue', bl: 'green', br: 'red' },
    };
    const cases: [number, number, number][] = [
      [1, 60, 40],
      [2, 60, 40],
      [3, 60, 40],
      [4, 60, 40],
      [5, 40, 60],
      [6, 40, 60],
      [7, 40, 60],
      [8, 40, 60],
    ];
    const seen = new Map<string, number>();

    // Issue 17: the original keeps its bytes, so it is stored as uploaded with the orientation as
    // its only EXIF field (browsers apply it); the reported size is the displayed one.
    it.each(cases)(
      'orientation %i is reported as displayed, %i×%i, keeping the tag as its only EXIF',
      async (orientation, width, height) => {
        const input = await redBlue()
          .withMetadata({ orientation })
          .jpeg({ quality: 95 })
          .toBuffer();
        const inputMeta = await sharp(input).metadata();
        expect(inputMeta).toMatchObject({ width: 60, height: 40, orientation });

        const result = await new ImageProcessor(validateEnv({})).process(
          write(`o${orientation}.jpg`, input),
        );

        expect(result.original).toMatchObject({ format: 'jpeg', width, height });
        const meta = await sharp(result.original.buffer).metadata();
        expect(meta).toMatchObject({ width: 60, height: 40 });
        expect(orientationOnly(meta.exif)).toBe(true);
        expect(meta.orientation ?? 1).toBe(orientation);

        // Independent oracle: sharp's own auto-orientation of the input.
        const oracle = await sharp(input).rotate().png().toBuffer();
        const displayed = await sharp(result.original.buffer).rotate().png().toBuffer();
        const actual = await corners(displayed);
        expect(actual).toEqual(await corners(oracle));
        if (byHand[orientation]) expect(actual).toEqual(byHand[orientation]);
        const layout = JSON.stringify(actual);
        expect(seen.get(layout)).toBeUndefined();
        seen.set(layout, orientation);
      },
    );
  });

  it('strips GPS and all other metadata from the original (but its orientation) and every rendition', async () => {
    const input = await redBlue()
      .withMetadata({ orientation: 6 })
      .withExifMerge({ IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1' } })
      .jpeg()
      .toBuffer();
    // Precondition: the input really carries a GPS IFD.
    expect(exifHasGps((await sharp(input).metadata()).exif)).toBe(true);

    const result = await new ImageProcessor(validateEnv({})).process(write('gps.jpg', input));

    const buffers = allBuffers(result);
    expect(buffers.map(([name]) => name)).toEqual(['original', 'thumb', 'card', 'large']);
    expect(orientationOnly((await sharp(result.original.buffer).metadata()).exif)).toBe(true);
    for (const [name, buffer] of buffers.slice(1)) {
      const meta = await sharp(buffer).metadata();
      expect({ name, exif: meta.exif, xmp: meta.xmp }).toEqual({
        name,
        exif: undefined,
        xmp: undefined,
      });
    }
  });

  it('refuses a BMP of a kind it does not read as unsupported, saying which; a cut one as corrupt', async () => {
    const processor = new ImageProcessor(validateEnv({}));
    const rle8 = bmp(8, 4);
    rle8.writeUInt16LE(8, 28); // 8 bits a pixel
    rle8.writeUInt32LE(1, 30); // BI_RLE8
    const os2 = bmp(8, 4);
    os2.writeUInt32LE(12, 14); // a BITMAPCOREHEADER
    for (const [name, input, reason] of [
      ['rle8.bmp', rle8, 'compression'],
      ['os2.bmp', os2, 'OS/2'],
    ] as const) {
      const error = await rejection(processor.process(write(name, input)));
      expect({ name, code: error.code }).toEqual({ name, code: 'unsupported_image_type' });
      expect(error.message).toContain(reason);
      expect(error.errors?.[0]).toMatchObject({ field: 'image' });
    }
    const cut = bmp(64, 48).subarray(0, 400);
    expect((await rejection(processor.process(write('cut.bmp', cut)))).code).toBe('invalid_image');
  });

  it('refuses a new JPEG that lost pixels, yet rebuilds one stored before as it was accepted', async () => {
    const processor = new ImageProcessor(validateEnv({}));
    for (const [name, jpeg] of [
      ['cut mid-scan', await jpegCutAndClosed()],
      ['cut between scans', await jpegCutAndClosed({ progressive: true, beforeScan: 4 })],
    ] as const) {
      const file = write('cut.jpg', jpeg);
      const error = await rejection(processor.process(file));
      expect({ name, code: error.code }).toEqual({ name, code: 'invalid_image' });
      // A stored original (a rendition rebuild's), taken by a version that did not check this.
      const stored = await processor.process(file, { renditions: true, stored: true });
      expect({ name, original: stored.original }).toMatchObject({
        name,
        original: { width: 320, height: 240 },
      });
      expect(Object.keys(stored.renditions).length).toBeGreaterThan(0);
    }
  });

  it('takes an animated PNG as the PNG it is, kept as its still image', async () => {
    const apng = await animatedPng();
    expect(apng.includes('acTL')).toBe(true);

    const result = await new ImageProcessor(validateEnv({})).process(write('anim.png', apng));

    expect(result.original).toMatchObject({ format: 'png', mimeType: 'image/png', width: 40 });
    expect(result.original.buffer.includes('acTL')).toBe(false);
    expect(result.original.buffer.includes('fdAT')).toBe(false);
    const { data } = await sharp(result.original.buffer)
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([...data.subarray(0, 3)]).toEqual([255, 0, 0]);
    expect(Object.keys(result.renditions).length).toBeGreaterThan(0);
  });

  it('reports a CMYK upload as CMYK and stores it as sRGB', async () => {
    const input = await redBlue().toColourspace('cmyk').jpeg().toBuffer();
    expect((await sharp(input).metadata()).space).toBe('cmyk');

    const result = await new ImageProcessor(validateEnv({})).process(write('cmyk.jpg', input));

    expect(result.colorMode).toBe('CMYK');
    expect(result.hasAlpha).toBe(false);
    expect((await sharp(result.original.buffer).metadata()).space).toBe('srgb');
  });

  it('reports an opaque GIF as RGB though its header names a transparent index, and a transparent one as RGBA', async () => {
    const processor = new ImageProcessor(validateEnv({}));
    // libvips' GIF encoder names a transparent palette index in every file, used or not.
    const opaque = await redBlue().gif().toBuffer();
    expect((await sharp(opaque).metadata()).hasAlpha).toBe(true);
    const holed = Buffer.alloc(60 * 40 * 4, 255);
    holed[3] = 0;
    const transparent = await sharp(holed, { raw: { width: 60, height: 40, channels: 4 } })
      .gif()
      .toBuffer();

    expect(await processor.process(write('opaque.gif', opaque))).toMatchObject({
      colorMode: 'RGB',
      hasAlpha: false,
    });
    expect(await processor.process(write('holed.gif', transparent))).toMatchObject({
      colorMode: 'RGBA',
      hasAlpha: true,
    });
  });

  it("converts a 16-bit PNG's own colour profile to sRGB, in renditions and results", async () => {
    const processor = new ImageProcessor(validateEnv({}));
    const centre = async (image: Buffer) => {
      const { data, info } = await sharp(image).raw().toBuffer({ resolveWithObject: true });
      const i =
        (Math.floor(info.height / 2) * info.width + Math.floor(info.width / 2)) * info.channels;
      return info.channels >= 3 ? [...data.subarray(i, i + 3)] : [data[i], data[i], data[i]];
    };
    for (const { name, png, srgb } of await deepProfiledPngs()) {
      expect({ name, depth: (await sharp(png).metadata()).depth }).toEqual({
        name,
        depth: 'ushort',
      });
      const processed = await processor.process(write('deep.png', png));
      const transformed = await processor.transform(
        { buffer: png },
        { width: 24, height: 16, fit: 'inside', format: 'jpeg', quality: 90 },
      );
      const seen = [...Object.values(processed.renditions).map((r) => r.buffer), transformed.data];
      for (const image of seen) {
        const colour = await centre(image);
        // Within 3 of each channel: JPEG and WebP round a solid colour a little.
        expect({ name, off: colour.map((c, i) => Math.abs(c - srgb[i]) > 3) }).toEqual({
          name,
          off: [false, false, false],
        });
      }
    }
  });

  it('makes webp renditions: cover and attention crop exactly, inside never enlarges', async () => {
    const processor = new ImageProcessor(
      validateEnv({ IMAGE_RENDITIONS: 'a:100x100:cover,b:100x100:attention,c:1000x1000:inside' }),
    );
    expect(processor.renditionNames).toEqual(['a', 'b', 'c']);
    const input = await noisyRgb(300, 200, 7).png().toBuffer();

    const { original, renditions } = await processor.process(write('300x200.png', input));

    expect(original).toMatchObject({ format: 'png', width: 300, height: 200 });
    expect(Object.keys(renditions)).toEqual(['a', 'b', 'c']);
    const expected = { a: [100, 100], b: [100, 100], c: [300, 200] };
    for (const [name, [width, height]] of Object.entries(expected)) {
      const rendition = renditions[name];
      expect(rendition).toMatchObject({
        format: 'webp',
        mimeType: 'image/webp',
        extension: 'webp',
        width,
        height,
        size: rendition.buffer.length,
      });
      const meta = await sharp(rendition.buffer).metadata();
      expect({ name, format: meta.format, width: meta.width, height: meta.height }).toEqual({
        name,
        format: 'webp',
        width,
        height,
      });
    }
  });

  it('computes the sizes that storage deriving renditions on delivery will report', async () => {
    const spec = 'a:100x100:cover,b:100x50:attention,c:120x120:inside,d:1000x1000:inside';
    const processor = new ImageProcessor(validateEnv({ IMAGE_RENDITIONS: spec }));
    for (const [width, height] of [
      [300, 200],
      [77, 301],
    ]) {
      const file = write(
        `${width}x${height}.png`,
        await noisyRgb(width, height, 3).png().toBuffer(),
      );
      const { renditions } = await processor.process(file);
      for (const preset of parseRenditionPresets(spec)) {
        const made = renditions[preset.name];
        expect({ preset: preset.name, ...renditionSize(preset, width, height) }).toEqual({
          preset: preset.name,
          width: made.width,
          height: made.height,
        });
      }
    }
  });

  it('encodes only the original when renditions are derived elsewhere', async () => {
    const processor = new ImageProcessor(validateEnv({}));
    const input = await noisyRgb(64, 48, 5).jpeg().toBuffer();

    const result = await processor.process(write('only.jpg', input), { renditions: false });

    expect(result.original).toMatchObject({ format: 'jpeg', width: 64, height: 48 });
    expect(result.renditions).toEqual({});
  });

  describe('fill (the Ocha API: 500×500, fill, gravity auto)', () => {
    it('crops the original around its most interesting part, enlarging when smaller', async () => {
      const processor = new ImageProcessor(validateEnv({}));
      // A flat grey band with a noisy square on its right: attention keeps the square.
      const width = 900;
      const height = 300;
      const raw = Buffer.alloc(width * height * 3, 128);
      const noise = noiseBytes(width * height * 3, 9);
      for (let y = 0; y < height; y++) {
        for (let x = 650; x < 850; x++) {
          const i = (y * width + x) * 3;
          noise.copy(raw, i, i, i + 3);
        }
      }
      const input = await sharp(raw, { raw: { width, height, channels: 3 } })
        .png()
        .toBuffer();
      const fill = { width: 500, height: 500 };
      const result = await processor.process(write('band.png', input), {
        renditions: true,
        fill,
      });
      expect(result.original).toMatchObject({ format: 'png', width: 500, height: 500 });
      expect(await sharp(result.original.buffer).metadata()).toMatchObject(fill);
      // A centred crop (the band's x 300-600) is all grey; this one holds the noisy square,
      // from about x 115 to 450 of the 500.
      const square = await stdevOf(result.original.buffer, {
        left: 150,
        top: 0,
        width: 250,
        height: 500,
      });
      expect(square).toBeGreaterThan(20);
      const centred = await stdevOf(input, { left: 300, top: 0, width: 300, height: 300 });
      expect(centred).toBe(0);
      // Renditions are made from the crop: nothing larger than it.
      expect(result.renditions.large).toMatchObject({ width: 500, height: 500 });

      const small = await processor.process(
        write('small.jpg', await noisyRgb(64, 48, 3).jpeg().toBuffer()),
        { renditions: false, fill },
      );
      expect(small.original).toMatchObject({ format: 'jpeg', width: 500, height: 500 });
    });

    it('rasterises an SVG to a PNG', async () => {
      const processor = new ImageProcessor(validateEnv({}));
      const svg = Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"><rect width="200" height="100" fill="red"/></svg>',
      );
      const result = await processor.process(write('logo.svg', svg), {
        renditions: false,
        fill: { width: 500, height: 500 },
      });
      expect(result.original).toMatchObject({
        format: 'png',
        mimeType: 'image/png',
        extension: 'png',
        width: 500,
        height: 500,
      });
      expect((await sharp(result.original.buffer).metadata()).format).toBe('png');
    });
  });

  describe('an attention crop of a long, thin image (a few hundred bytes)', () => {
    // Scored after scaling the whole strip up to cover the box, a 4000×1 strip took 47 s and
    // 1.9 GB per crop (20000×1: 10 GB, never done); scored at the strip's size, milliseconds.
    // Each case below would take minutes, so this test fails by its time-out without the fix.
    const strip = (width: number, height: number, pages = 1): Promise<Buffer> => {
      const raw = noiseBytes(width * height * pages * 3, width + pages);
      const pageHeight = pages > 1 ? { pageHeight: height } : {};
      const image = sharp(raw, {
        raw: { width, height: height * pages, channels: 3, ...pageHeight },
      });
      return pages > 1
        ? image.gif({ keepDuplicateFrames: true }).toBuffer()
        : image.png().toBuffer();
    };

    it('makes the attention rendition, the fill and an attention result of the box size', async () => {
      const processor = new ImageProcessor(validateEnv({}));
      const png = write('strip.png', await strip(4000, 1));
      const uploaded = await processor.process(png, { renditions: true });
      expect(uploaded.renditions.card).toMatchObject({ width: 500, height: 500 });
      const filled = await processor.process(png, {
        renditions: false,
        fill: { width: 500, height: 500 },
      });
      expect(filled.original).toMatchObject({ width: 500, height: 500 });
      // An animation: every frame cut alike around what the first frame's crop chose.
      const gif = write('strip.gif', await strip(4000, 1, 3));
      const moving = await processor.process(gif, { renditions: true });
      expect(moving.renditions.card).toMatchObject({ width: 500, height: 500 });
      expect(await animationOf(moving.renditions.card.buffer)).toMatchObject({ pages: 3 });
      // A still shown turned (EXIF 6: stored 1×4000, shown 4000×1), cut where it is shown.
      const turned = await sharp(await strip(1, 4000))
        .withMetadata({ orientation: 6 })
        .png()
        .toBuffer();
      for (const input of [turned, await strip(4000, 1)]) {
        const result = await processor.transform(
          { buffer: input },
          { width: 400, height: 300, fit: 'attention', format: 'webp', quality: 80 },
        );
        expect(result).toMatchObject({ width: 400, height: 300 });
      }
    }, 60_000);
  });

  it('reads an upload whole once, however many checks look at its bytes', async () => {
    const processor = new ImageProcessor(validateEnv({}));
    const inputs: [string, Buffer][] = [
      ['progressive.jpg', await noisyRgb(64, 48, 30).jpeg({ progressive: true }).toBuffer()],
      ['still.webp', await noisyRgb(64, 48, 30).webp().toBuffer()],
      ['animated.webp', await animation('webp', 64, 48)],
    ];
    const reads = jest.spyOn(fs.promises, 'readFile');
    try {
      for (const [name, bytes] of inputs) {
        const file = write(name, bytes);
        await processor.process(file);
        expect({ name, reads: reads.mock.calls.filter(([read]) => read === file).length }).toEqual({
          name,
          reads: 1,
        });
      }
    } finally {
      reads.mockRestore();
    }
  });

  describe('animations', () => {
    const presets =
      'thumb:150x150:cover,card:500x500:attention,large:1200x1200:inside,small:40x40:inside';

    it('keeps an animated GIF animated: the original as a GIF, every rendition as an animated WebP', async () => {
      const processor = new ImageProcessor(validateEnv({ IMAGE_RENDITIONS: presets }));
      const input = await animation('gif', 120, 90);
      expect(await animationOf(input)).toEqual({ format: 'gif', pages: 4, delay: DELAYS, loop: 3 });

      const result = await processor.process(write('anim.gif', input));

      expect(result.original).toMatchObject({
        format: 'gif',
        mimeType: 'image/gif',
        width: 120,
        height: 90,
      });
      expect(await animationOf(result.original.buffer)).toEqual({
        format: 'gif',
        pages: 4,
        delay: DELAYS,
        loop: 3,
      });
      // Re-encoded with its own palette: every frame's pixels as uploaded.
      const frames = (bytes: Buffer): Promise<Buffer> =>
        sharp(bytes, { animated: true }).raw().toBuffer();
      expect((await frames(result.original.buffer)).equals(await frames(input))).toBe(true);
      const sizes = { thumb: [150, 150], card: [500, 500], large: [120, 90], small: [40, 30] };
      for (const [name, [width, height]] of Object.entries(sizes)) {
        const rendition = result.renditions[name];
        expect({ name, ...rendition, buffer: undefined }).toMatchObject({
          name,
          format: 'webp',
          width,
          height,
        });
        const meta = await sharp(rendition.buffer).metadata();
        expect({
          name,
          width: meta.width,
          height: meta.height,
          ...(await animationOf(rendition.buffer)),
        }).toEqual({
          name,
          width,
          height,
          format: 'webp',
          pages: 4,
          delay: DELAYS,
          loop: 3,
        });
      }
    });

    it('keeps an animated WebP as uploaded, its metadata removed, and makes animated renditions', async () => {
      const processor = new ImageProcessor(validateEnv({ IMAGE_RENDITIONS: presets }));
      const plain = await animation('webp', 120, 90);
      const input = await sharp(plain, { animated: true })
        .withExifMerge({
          IFD0: { Make: 'Camera' },
          IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1' },
        })
        .webp({ lossless: true })
        .toBuffer();
      expect(exifHasGps((await sharp(input).metadata()).exif)).toBe(true);
      expect(await animationOf(input)).toEqual({
        format: 'webp',
        pages: 4,
        delay: DELAYS,
        loop: 3,
      });

      const result = await processor.process(write('anim.webp', input));

      const original = result.original.buffer;
      expect(result.original).toMatchObject({
        format: 'webp',
        width: 120,
        height: 90,
        size: original.length,
      });
      expect(original.length).toBeLessThan(input.length);
      const meta = await sharp(original).metadata();
      expect({ exif: meta.exif, xmp: meta.xmp }).toEqual({ exif: undefined, xmp: undefined });
      expect(await animationOf(original)).toEqual({
        format: 'webp',
        pages: 4,
        delay: DELAYS,
        loop: 3,
      });
      // Every frame's pixels as uploaded.
      const frames = (bytes: Buffer): Promise<Buffer> =>
        sharp(bytes, { animated: true }).raw().toBuffer();
      expect((await frames(original)).equals(await frames(input))).toBe(true);
      for (const [name, rendition] of Object.entries(result.renditions)) {
        expect({ name, ...(await animationOf(rendition.buffer)) }).toEqual({
          name,
          format: 'webp',
          pages: 4,
          delay: DELAYS,
          loop: 3,
        });
      }
    });

    it('checks every frame of a kept animated WebP even when no rendition is made', async () => {
      const processor = new ImageProcessor(validateEnv({}));
      const input = corruptLastFrame(await animation('webp', 120, 90));

      const error = await rejection(
        processor.process(write('corrupt.webp', input), { renditions: false }),
      );

      expect(error.code).toBe('invalid_image');
    });

    it('fills the Ocha API box with every frame cropped alike, around what draws the eye in the first', async () => {
      const processor = new ImageProcessor(validateEnv({}));
      const input = await animation('gif', 120, 90);

      const result = await processor.process(write('fill.gif', input), {
        renditions: true,
        fill: { width: 500, height: 500 },
      });

      expect(result.original).toMatchObject({ format: 'gif', width: 500, height: 500 });
      expect(await animationOf(result.original.buffer)).toMatchObject({ pages: 4, delay: DELAYS });
      expect(await animationOf(result.renditions.card.buffer)).toMatchObject({ pages: 4 });
      // The first frame's noisy square is at its left edge (x < 30 of 120): the crop keeps the
      // left of the frames, where a centred one (from x = 15) would show flat colour at x = 110+.
      const first = await stdevOf(result.original.buffer, {
        left: 110,
        top: 10,
        width: 40,
        height: 80,
      });
      expect(first).toBeGreaterThan(20);
    });

    it('makes a still of the first frame where enlarged frames would pass MAX_IMAGE_PIXELS', async () => {
      // 4 frames of 120×90 (43,200 pixels): within 50,000; 4 of 150×150 or 500×500 are not.
      const processor = new ImageProcessor(
        validateEnv({ IMAGE_RENDITIONS: presets, MAX_IMAGE_PIXELS: '50000' }),
      );
      const file = write('small.gif', await animation('gif', 120, 90));

      const result = await processor.process(file);

      expect(await animationOf(result.original.buffer)).toMatchObject({ pages: 4 });
      const pages = async (buffer: Buffer): Promise<number> =>
        (await sharp(buffer).metadata()).pages ?? 1;
      const made = Object.fromEntries(
        await Promise.all(
          Object.entries(result.renditions).map(async ([name, r]) => [
            name,
            [r.width, r.height, await pages(r.buffer)],
          ]),
        ),
      );
      expect(made).toEqual({
        thumb: [150, 150, 1],
        card: [500, 500, 1],
        large: [120, 90, 4],
        small: [40, 30, 4],
      });
      const filled = await processor.process(file, {
        renditions: false,
        fill: { width: 500, height: 500 },
      });
      expect(filled.original).toMatchObject({ format: 'gif', width: 500, height: 500 });
      expect(await pages(filled.original.buffer)).toBe(1);

      // With no rendition of every frame, a kept WebP's frames are still all decoded.
      const stills = new ImageProcessor(
        validateEnv({ IMAGE_RENDITIONS: 'thumb:150x150:cover', MAX_IMAGE_PIXELS: '50000' }),
      );
      const corrupt = write('corrupt.webp', corruptLastFrame(await animation('webp', 120, 90)));
      expect((await rejection(stills.process(corrupt))).code).toBe('invalid_image');
    });

    it('refuses more pixels in all the frames than MAX_IMAGE_PIXELS, before decoding any', async () => {
      // The last frame cannot be decoded: a decode would answer invalid_image.
      const input = corruptLastFrame(await animation('webp', 120, 90));
      const file = write('big.webp', input);
      // Each frame (10,800 pixels) is within the limit; the four (43,200) are not.
      const limited = new ImageProcessor(validateEnv({ MAX_IMAGE_PIXELS: '40000' }));

      const error = await rejection(limited.process(file));

      expect(error.code).toBe('image_too_many_pixels');
      expect(error.detail).toBe(
        'The animation has more than 40000 pixels in its 4 frames (width × height × frames, each frame counting as at least 64×64).',
      );
      const unlimited = await rejection(new ImageProcessor(validateEnv({})).process(file));
      expect(unlimited.code).toBe('invalid_image');

      // A frame costs a fixed part whatever its size: tiny frames count as 64×64 (4,096) each.
      const tiny = (frames: number): Promise<Buffer> =>
        sharp(noiseBytes(8 * 8 * frames * 3, frames), {
          raw: { width: 8, height: 8 * frames, channels: 3, pageHeight: 8 },
        })
          .gif({ keepDuplicateFrames: true })
          .toBuffer();
      const small = new ImageProcessor(validateEnv({ MAX_IMAGE_PIXELS: '50000' }));
      const twelve = await small.process(write('12-tiny.gif', await tiny(12)));
      expect(await animationOf(twelve.original.buffer)).toMatchObject({ pages: 12 });
      const thirteen = await rejection(small.process(write('13-tiny.gif', await tiny(13))));
      expect(thirteen.detail).toContain('in its 13 frames');
    });
  });

  describe('transform (on-request results)', () => {
    const FITS: TransformFit[] = ['cover', 'contain', 'inside', 'attention'];
    const FORMATS: TransformFormat[] = ['avif', 'webp', 'jpeg', 'png', 'gif'];
    // sharp names an AVIF by its container, HEIF (its compression is AV1).
    const READ_AS: Record<TransformFormat, string> = {
      avif: 'heif',
      webp: 'webp',
      jpeg: 'jpeg',
      png: 'png',
      gif: 'gif',
    };
    const cases = FITS.flatMap((fit) =>
      FORMATS.map((format): [TransformFit, TransformFormat] => [fit, format]),
    );
    let still: Buffer;

    beforeAll(async () => {
      // 300×200 with alpha and a Display P3 profile: results are sRGB, without the profile.
      const raw = noiseBytes(300 * 200 * 4, 23);
      still = await sharp(raw, { raw: { width: 300, height: 200, channels: 4 } })
        .withIccProfile('p3')
        .png()
        .toBuffer();
      expect((await sharp(still).metadata()).icc).toBeDefined();
    });

    it.each(cases)('%s to %s: the box, the format, sRGB without metadata', async (fit, format) => {
      const processor = new ImageProcessor(validateEnv({}));
      const box = { width: 120, height: 120 };

      const result = await processor.transform(
        { buffer: still },
        { ...box, fit, format, quality: 60 },
      );

      const meta = await sharp(result.data).metadata();
      expect({
        format: meta.format,
        width: meta.width,
        height: meta.height,
        pages: meta.pages ?? 1,
      }).toEqual({
        format: READ_AS[format],
        width: result.width,
        height: result.height,
        pages: 1,
      });
      expect(result).toMatchObject({ format, pages: 1 });
      if (fit === 'inside') expect([result.width, result.height]).toEqual([120, 80]);
      else expect([result.width, result.height]).toEqual([120, 120]);
      expect({ icc: meta.icc, exif: meta.exif, xmp: meta.xmp }).toEqual({
        icc: undefined,
        exif: undefined,
        xmp: undefined,
      });
      if (format === 'avif') expect(meta.compression).toBe('av1');
    });

    it('pads contain with transparency, and with white for JPEG', async () => {
      const processor = new ImageProcessor(validateEnv({}));
      const spec = { width: 120, height: 120, fit: 'contain' as const, quality: 80 };
      const corner = async (format: TransformFormat): Promise<number[]> => {
        const { data } = await processor.transform({ buffer: still }, { ...spec, format });
        const { data: pixels, info } = await sharp(data)
          .ensureAlpha()
          .raw()
          .toBuffer({ resolveWithObject: true });
        expect(info.height).toBe(120);
        return [...pixels.subarray(0, 4)];
      };

      expect(await corner('jpeg')).toEqual([255, 255, 255, 255]);
      for (const format of ['png', 'webp', 'gif', 'avif'] as const) {
        expect({ format, alpha: (await corner(format))[3] }).toEqual({ format, alpha: 0 });
      }
    });

    it.each(FITS)(
      'keeps an animation animated in WebP and GIF, %s, and takes its first frame for the others',
      async (fit) => {
        const processor = new ImageProcessor(validateEnv({}));
        const input = await animation('gif', 120, 90);
        const spec = { width: 60, height: 60, fit, quality: 70 };

        for (const format of ['webp', 'gif'] as const) {
          const result = await processor.transform({ buffer: input }, { ...spec, format });
          expect({ format, pages: result.pages }).toEqual({ format, pages: 4 });
          expect(await animationOf(result.data)).toMatchObject({
            format,
            pages: 4,
            delay: DELAYS,
            loop: 3,
          });
          const meta = await sharp(result.data).metadata();
          expect({ format, width: meta.width, height: meta.height }).toEqual({
            format,
            width: result.width,
            height: result.height,
          });
          expect(fit === 'inside' ? [60, 45] : [60, 60]).toEqual([result.width, result.height]);
        }
        for (const format of ['jpeg', 'png', 'avif'] as const) {
          const result = await processor.transform({ buffer: input }, { ...spec, format });
          expect({ format, pages: result.pages }).toEqual({ format, pages: 1 });
          expect({ format, pages: (await sharp(result.data).metadata()).pages ?? 1 }).toEqual({
            format,
            pages: 1,
          });
        }
      },
    );

    it('makes a 640 px result of a 12 MP photo, upright, from a file', async () => {
      const processor = new ImageProcessor(validateEnv({}));
      // 4000×3000 stored, EXIF orientation 6: displayed 3000×4000.
      const photo = await redBlue()
        .resize(4000, 3000, { kernel: 'nearest' })
        .withMetadata({ orientation: 6 })
        .jpeg({ quality: 90 })
        .toBuffer();
      const file = write('12mp.jpg', photo);
      expect(await readImageFacts({ path: file })).toEqual({
        width: 3000,
        height: 4000,
        pages: 1,
        format: 'jpeg',
        hasAlpha: false,
      });

      for (const format of ['avif', 'webp', 'jpeg'] as const) {
        const result = await processor.transform(
          { path: file },
          { width: 640, height: 854, fit: 'inside', format, quality: 60 },
        );
        expect({ format, width: result.width, height: result.height }).toEqual({
          format,
          width: 640,
          height: 853,
        });
        // Upright: the stored image's red bottom-left quadrant is displayed top left (orientation 6).
        const top = await sharp(result.data)
          .extract({ left: 100, top: 100, width: 1, height: 1 })
          .raw()
          .toBuffer();
        expect({ format, red: top[0] > 180, blue: top[2] < 80 }).toEqual({
          format,
          red: true,
          blue: true,
        });
      }
    });

    it('reads the facts a result is planned from: displayed size, frames, format', async () => {
      const svg = Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"><rect width="200" height="100"/></svg>',
      );
      const avif = await noisyRgb(30, 20, 2).avif({ effort: 0 }).toBuffer();
      expect(await readImageFacts({ buffer: await animation('gif', 120, 90) })).toEqual({
        width: 120,
        height: 90,
        pages: 4,
        format: 'gif',
        hasAlpha: expect.any(Boolean) as boolean,
      });
      expect(await readImageFacts({ buffer: avif })).toMatchObject({ format: 'avif', pages: 1 });
      expect(await readImageFacts({ buffer: svg })).toMatchObject({ format: 'svg', width: 200 });
      expect((await rejection(readImageFacts({ buffer: noiseBytes(64, 3) }))).code).toBe(
        'invalid_image',
      );
    });

    it('transforms a stored original past a limit lowered since, at its own size', async () => {
      // Stored under a higher MAX_IMAGE_PIXELS: the URLs handed out for it keep working.
      const limited = new ImageProcessor(validateEnv({ MAX_IMAGE_PIXELS: '40000' }));
      const spec = { width: 60, height: 45, fit: 'inside' as const, quality: 70 };
      // Frames of 10,800 pixels, 43,200 in all: every frame is made.
      const input = await animation('webp', 120, 90);
      const animated = await limited.transform({ buffer: input }, { ...spec, format: 'webp' });
      expect(animated).toMatchObject({ format: 'webp', width: 60, height: 45, pages: 4 });

      const big = await noisyRgb(300, 200, 3).png().toBuffer();
      const still = await limited.transform({ buffer: big }, { ...spec, format: 'png' });
      expect(still).toMatchObject({ format: 'png', width: 60, height: 40, pages: 1 });
    });

    it('makes every frame of a box no larger than the original, whatever the limit is now', async () => {
      // A result's name says nothing of the limit for such a box (transform-plan.ts): an instance
      // under a limit lowered since must make what one under the old limit makes for that URL,
      // not a still stored where the animation is expected (and cached a year).
      const input = await animation('webp', 120, 90);
      const spec = { width: 120, height: 90, fit: 'cover' as const, format: 'webp' as const };
      const before = new ImageProcessor(validateEnv({ MAX_IMAGE_PIXELS: '50000' }));
      const lowered = new ImageProcessor(validateEnv({ MAX_IMAGE_PIXELS: '30000' }));
      // 4 frames of 10,800 pixels: 43,200 in all, within the first limit and past the second.
      for (const processor of [before, lowered]) {
        const made = await processor.transform({ buffer: input }, { ...spec, quality: 80 });
        expect(made).toMatchObject({ format: 'webp', width: 120, height: 90, pages: 4 });
      }
    });

    it('refuses what does not decode as invalid_image', async () => {
      const processor = new ImageProcessor(validateEnv({}));
      const jpeg = await noisyRgb(140, 140, 2).jpeg({ quality: 90 }).toBuffer();
      const spec = {
        width: 64,
        height: 64,
        fit: 'cover' as const,
        format: 'webp' as const,
        quality: 70,
      };

      for (const buffer of [jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), noiseBytes(4096, 5)]) {
        expect((await rejection(processor.transform({ buffer }, spec))).code).toBe('invalid_image');
      }
      const corrupt = corruptLastFrame(await animation('webp', 120, 90));
      expect((await rejection(processor.transform({ buffer: corrupt }, spec))).code).toBe(
        'invalid_image',
      );
    });

    it('waits in the same queue as uploads: server_busy beyond it', async () => {
      const processor = new ImageProcessor(
        validateEnv({ IMAGE_PROCESSING_CONCURRENCY: '1', IMAGE_PROCESSING_QUEUE_LIMIT: '1' }),
      );
      const file = write('800x800.png', await noisyRgb(800, 800, 4).png().toBuffer());
      const spec = {
        width: 400,
        height: 400,
        fit: 'cover' as const,
        format: 'avif' as const,
        quality: 50,
      };

      const settled = await Promise.allSettled([
        processor.process(file),
        ...[1, 2, 3].map(() => processor.transform({ path: file }, spec)),
      ]);

      const codes = settled.map((s) =>
        s.status === 'fulfilled'
          ? 'ok'
          : s.reason instanceof AppError
            ? s.reason.code
            : String(s.reason),
      );
      expect(codes.sort()).toEqual(['ok', 'ok', 'server_busy', 'server_busy']);
    });

    describe('transformRead (a stored original read from storage, then transformed)', () => {
      const spec = {
        width: 40,
        height: 40,
        fit: 'cover' as const,
        format: 'webp' as const,
        quality: 80,
      };
      /** A read that hangs until `resolve`, as a storage slow to answer, and whether it began. */
      const hungRead = () => {
        const read = { began: false, resolve: (_path: string) => {} };
        const path = new Promise<string>((resolve) => (read.resolve = resolve));
        return Object.assign(read, {
          run: () => {
            read.began = true;
            return path;
          },
        });
      };
      /**
       * A file whose opening blocks until a writer opens it: work reading it holds its slot.
       * `open` lets it through, empty, and whoever opens it later (once; called in a `finally`
       * too: a reader left blocked holds a thread for good, and Jest hangs instead of reporting
       * the failure). Opened read-write, which on Linux never blocks, whether a reader waits yet
       * or not; an empty file put in its place for readers still to come.
       */
      const fifo = () => {
        const file = path.join(dir, `${++counter}-fifo`);
        execFileSync('mkfifo', [file]);
        const letThrough = async () => {
          const handle = await fs.promises.open(file, 'r+');
          fs.writeFileSync(`${file}.empty`, '');
          fs.renameSync(`${file}.empty`, file);
          await handle.close();
        };
        let opened: Promise<void> | undefined;
        return { file, open: () => (opened ??= letThrough()) };
      };
      /** Whether `processor` refuses work now: every slot taken and its queue full. */
      const refusing = (processor: ImageProcessor) => (): boolean => {
        try {
          processor.refuseIfBusy('process');
          return false;
        } catch {
          return true;
        }
      };
      /**
       * A first transform of `held` (its file opens when the test lets it: it holds the processing
       * slot meanwhile), and a second whose read has begun, hanging until `second.resolve`.
       */
      const heldThenReading = async (
        processor: ImageProcessor,
        held: { file: string },
        release: (path: string) => Promise<void>,
      ) => {
        const first = processor.transformRead(() => Promise.resolve(held.file), release, spec);
        first.catch(() => undefined);
        const second = hungRead();
        const secondDone = processor.transformRead(second.run, release, spec);
        await eventually(() => second.began, 'the second read to begin', 5_000);
        return { first, second, secondDone };
      };
      /** The queues' depths as a scrape reads them, once `done` holds for them (5 s at most). */
      const queuesOnce = (metrics: Metrics, done: (queues: Queues) => boolean) =>
        eventuallyRead(
          async () => {
            const text = await metrics.scrape();
            const gauge = (name: string) =>
              Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
            return {
              processing: gauge('image_processing_queue_depth'),
              reads: gauge('image_transform_reads_queued'),
            };
          },
          done,
          'the queues to reach the expected depths',
          5_000,
        );

      it('ends an SVG render in its slot at once when nobody waits for the result any more', async () => {
        // 40,000 characters of text on one line: about 100 s of librsvg's time, its deadline 30 s.
        const file = path.join(dir, `${++counter}-slow.svg`);
        fs.writeFileSync(
          file,
          '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200">' +
            `<text y="20">${'x'.repeat(40_000)}</text></svg>`,
        );
        const processor = new ImageProcessor(validateEnv({ SVG_RENDER_TIMEOUT_MS: '30000' }));
        const gone = new AbortController();
        const work = processor
          .transformRead(
            () => Promise.resolve(file),
            () => Promise.resolve(),
            spec,
            gone.signal,
          )
          .catch((error: unknown) => error);
        const renders = () => childProcesses(process.pid, 'svg-render.child.cjs');
        await eventually(async () => renders().length > 0, 'the render to start', 20_000);
        const reason = new Error('every request gone');
        gone.abort(reason);
        // Before, the render ran on to its deadline, 30 s, holding the slot and the process.
        await expect(work).resolves.toBe(reason);
        expect(renders()).toEqual([]);
      }, 25_000);

      it('holds no processing slot while the original is read: other work goes on meanwhile', async () => {
        // One slot and no queue: today's work in the slot refuses any other.
        const processor = new ImageProcessor(
          validateEnv({ IMAGE_PROCESSING_CONCURRENCY: '1', IMAGE_PROCESSING_QUEUE_LIMIT: '0' }),
        );
        const read = hungRead();
        const released: string[] = [];
        const release = (file: string) => {
          released.push(file);
          return Promise.resolve();
        };
        const slow = processor.transformRead(read.run, release, spec);
        await new Promise((resolve) => setImmediate(resolve));
        expect(read.began).toBe(true);

        const image = await noisyRgb(200, 100, 3).png().toBuffer();
        await expect(processor.transform({ buffer: image }, spec)).resolves.toMatchObject({
          width: 40,
        });
        await expect(processor.process(write('upload.png', image))).resolves.toBeDefined();

        const original = write('original.png', image);
        read.resolve(original);
        await expect(slow).resolves.toMatchObject({ width: 40, height: 40 });
        expect(released).toEqual([original]);
      });

      it('reads ahead at most TRANSFORM_READ_CONCURRENCY originals, refused beyond the queue', async () => {
        const metrics = new Metrics();
        const processor = new ImageProcessor(
          validateEnv({
            IMAGE_PROCESSING_CONCURRENCY: '1',
            IMAGE_PROCESSING_QUEUE_LIMIT: '1',
            TRANSFORM_READ_CONCURRENCY: '1',
          }),
          metrics,
        );
        const image = await noisyRgb(200, 100, 3).png().toBuffer();
        const release = () => Promise.resolve();
        // The first, read, holds the processing slot (its file opens when a writer comes).
        const held = fifo();
        try {
          // Its read slot was let go as its processing began: the second's read is done at once.
          const { first, second, secondDone } = await heldThenReading(processor, held, release);
          // The second, read and waiting for the processing slot, keeps the one read slot and
          // fills the one queue IMAGE_PROCESSING_QUEUE_LIMIT allows, for all that waits: a third
          // is refused unread, and so is any transform or upload now.
          second.resolve(write('second.png', image));
          await queuesOnce(metrics, (queues) => queues.processing === 1 && queues.reads === 0);
          const third = hungRead();
          expect((await rejection(processor.transformRead(third.run, release, spec))).code).toBe(
            'server_busy',
          );
          expect(third.began).toBe(false);
          expect(() => processor.refuseIfBusy('transform')).toThrow(AppError);
          expect(() => processor.refuseIfBusy('process')).toThrow(AppError);

          await held.open();
          await expect(first).rejects.toBeDefined();
          await expect(secondDone).resolves.toMatchObject({ width: 40 });
          // The queue empty, a transform waits for its read again (the read slot taken).
          const fourth = hungRead();
          const fifth = hungRead();
          const fourthDone = processor.transformRead(fourth.run, release, spec);
          const fifthDone = processor.transformRead(fifth.run, release, spec);
          await queuesOnce(metrics, (queues) => queues.reads === 1);
          expect([fourth.began, fifth.began]).toEqual([true, false]);
          fourth.resolve(write('fourth.png', image));
          await expect(fourthDone).resolves.toMatchObject({ width: 40 });
          await eventually(() => fifth.began, 'the fifth read to begin', 5_000);
          fifth.resolve(write('fifth.png', image));
          await expect(fifthDone).resolves.toMatchObject({ width: 40 });
        } finally {
          await held.open();
        }
      });

      it('reads no original, given its turn, that the busy processor would refuse: 503 unread', async () => {
        const metrics = new Metrics();
        const processor = new ImageProcessor(
          validateEnv({ IMAGE_PROCESSING_CONCURRENCY: '1', IMAGE_PROCESSING_QUEUE_LIMIT: '0' }),
          metrics,
        );
        const held = fifo();
        try {
          const holding = processor.transform({ path: held.file }, spec).catch(() => undefined);
          await eventually(refusing(processor), 'the slot taken', 5_000);
          const read = hungRead();
          const error = await rejection(
            processor.transformRead(read.run, () => Promise.resolve(), spec),
          );
          expect(error.code).toBe('server_busy');
          expect(read.began).toBe(false);
          // Its wait for the read slot (none: given at once) measured.
          expect(await metrics.scrape()).toContain('image_transform_read_wait_seconds_count 1');
          await held.open();
          await holding;
        } finally {
          await held.open();
        }
      });

      it('refuses no transform once it has read: admitted to read, it waits for its slot, past the queue limit', async () => {
        // One slot and no queue: two transforms at once both find the slot free when their turn
        // to read comes, and both read.
        const metrics = new Metrics();
        const processor = new ImageProcessor(
          validateEnv({ IMAGE_PROCESSING_CONCURRENCY: '1', IMAGE_PROCESSING_QUEUE_LIMIT: '0' }),
          metrics,
        );
        const image = await noisyRgb(200, 100, 3).png().toBuffer();
        const release = () => Promise.resolve();
        const held = fifo();
        try {
          const { first, second, secondDone } = await heldThenReading(processor, held, release);
          await eventually(refusing(processor), 'the first in the slot', 5_000);
          // Read while the first holds the slot: it waits for it, its read not thrown away.
          second.resolve(write('read-twice.png', image));
          // Work arriving now is refused, unread: the processor is full.
          const third = hungRead();
          expect((await rejection(processor.transformRead(third.run, release, spec))).code).toBe(
            'server_busy',
          );
          expect(third.began).toBe(false);
          // The second copy waits for the slot, past the limit, before the first frees it: found
          // free, it would pass without being admitted.
          await queuesOnce(metrics, (queues) => queues.processing === 1);
          await held.open();
          await expect(first).rejects.toBeDefined();
          await expect(secondDone).resolves.toMatchObject({ width: 40, height: 40 });
        } finally {
          await held.open();
        }
      });

      it('reads at most 16 originals at once by default, however many cores (S3 has 50 turns)', async () => {
        const processor = new ImageProcessor(
          validateEnv({ IMAGE_PROCESSING_CONCURRENCY: '10', IMAGE_PROCESSING_QUEUE_LIMIT: '0' }),
        );
        const reads = Array.from({ length: 17 }, () => hungRead());
        const settled = reads.map((read) =>
          processor
            .transformRead(read.run, () => Promise.resolve(), spec)
            .then(
              () => 'made',
              (error: AppError) => error.code,
            ),
        );
        await eventually(() => reads.slice(0, 16).every((read) => read.began), 'the reads', 5_000);
        expect(await settled[16]).toBe('server_busy');
        expect(reads[16].began).toBe(false);
      });

      it('releases the file of a transform whose signal aborts as it waits for its slot', async () => {
        const metrics = new Metrics();
        const processor = new ImageProcessor(
          validateEnv({ IMAGE_PROCESSING_CONCURRENCY: '1' }),
          metrics,
        );
        const held = fifo();
        try {
          const holding = processor.transform({ path: held.file }, spec).catch(() => undefined);
          const image = write('waiting.png', await noisyRgb(200, 100, 3).png().toBuffer());
          const read = hungRead();
          const released: string[] = [];
          const gone = new AbortController();
          const waiting = processor.transformRead(
            read.run,
            (file) => {
              released.push(file);
              return Promise.resolve();
            },
            spec,
            gone.signal,
          );
          read.resolve(image);
          // Read while the slot is held by other work, then waiting for it, in its queue.
          await queuesOnce(metrics, (queues) => queues.processing === 1);
          expect(read.began).toBe(true);
          expect(released).toEqual([]);
          gone.abort(new Error('requests gone'));
          await expect(waiting).rejects.toThrow('requests gone');
          expect(released).toEqual([image]);
          await expect(queuesOnce(metrics, (queues) => queues.processing === 0)).resolves.toEqual({
            processing: 0,
            reads: 0,
          });
          await held.open();
          await holding;
        } finally {
          await held.open();
        }
      });

      it('never starts a transform whose signal aborts as the slot is handed to it', async () => {
        const metrics = new Metrics();
        const processor = new ImageProcessor(
          validateEnv({ IMAGE_PROCESSING_CONCURRENCY: '1' }),
          metrics,
        );
        const image = write('handed.png', await noisyRgb(200, 100, 3).png().toBuffer());
        // The slot held, by a hand that frees it when the test says: no timing to race.
        const hold = await processor['slots'].acquire();
        const released: string[] = [];
        const gone = new AbortController();
        const waiting = processor.transformRead(
          () => Promise.resolve(image),
          (file) => {
            released.push(file);
            return Promise.resolve();
          },
          spec,
          gone.signal,
        );
        await queuesOnce(metrics, (queues) => queues.processing === 1);
        // Handed the slot, and its requests gone, before it resumes to start the work.
        hold();
        gone.abort(new Error('requests gone'));
        // Refused, as it would have been a moment before in the queue: no image made for nobody.
        await expect(waiting).rejects.toThrow('requests gone');
        expect(released).toEqual([image]);
        // The slot given back, not held by the work never started.
        expect(processor['slots'].active).toBe(0);
        await expect(processor.transform({ path: image }, spec)).resolves.toMatchObject({
          width: 40,
        });
      });
    });
  });

  describe('rejections', () => {
    const processor = (): ImageProcessor => new ImageProcessor(validateEnv({}));

    it('refuses bytes of another type than the one declared, as image_type_mismatch', async () => {
      const jpeg = await noisyRgb(32, 32, 4).jpeg().toBuffer();
      const error = await processor()
        .process(write('declared.png', jpeg), { renditions: false, declaredType: 'image/png' })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('image_type_mismatch');
      const same = await processor().process(write('declared.jpg', jpeg), {
        renditions: false,
        declaredType: 'image/jpeg',
      });
      expect(same.original.format).toBe('jpeg');
    });

    it('refuses random bytes as unsupported_image_type', async () => {
      const error = await rejection(processor().process(write('random.bin', noiseBytes(4096, 1))));
      expect(error.code).toBe('unsupported_image_type');
    });

    it('refuses a truncated JPEG as invalid_image', async () => {
      const jpeg = await noisyRgb(140, 140, 2).jpeg({ quality: 90 }).toBuffer();
      expect(jpeg.length).toBeGreaterThan(15_000); // ~20 KB
      const truncated = jpeg.subarray(0, Math.floor(jpeg.length * 0.6));

      const error = await rejection(processor().process(write('truncated.jpg', truncated)));
      expect(error.code).toBe('invalid_image');
    });

    it('takes a JPEG that lacks only its end marker after a whole scan, CMYK or filled too; one cut mid-scan stays refused', async () => {
      const rgb = await noisyRgb(64, 48, 5).jpeg().toBuffer();
      const cmyk = await noisyRgb(64, 48, 5).toColourspace('cmyk').jpeg().toBuffer();
      const progressiveCmyk = await noisyRgb(64, 48, 5)
        .toColourspace('cmyk')
        .jpeg({ progressive: true })
        .toBuffer();
      const unclosed = (jpeg: Buffer): Buffer => {
        expect(jpeg.subarray(-2).toString('hex')).toBe('ffd9');
        return jpeg.subarray(0, -2);
      };
      const taken = async (name: string, jpeg: Buffer, fill?: { width: number; height: number }) =>
        (await processor().process(write(name, jpeg), { renditions: true, fill })).original;
      expect(await taken('rgb.jpg', unclosed(rgb))).toMatchObject({ width: 64, height: 48 });
      expect(await taken('cmyk.jpg', unclosed(cmyk))).toMatchObject({ width: 64, height: 48 });
      expect(await taken('cmyk-p.jpg', unclosed(progressiveCmyk))).toMatchObject({ width: 64 });
      // The Ocha API's fill decodes the upload itself, not a stripped copy.
      const box = { width: 32, height: 32 };
      expect(await taken('rgb-fill.jpg', unclosed(rgb), box)).toMatchObject(box);
      // Cut inside its scan, with or without an end marker: pixels are missing.
      for (const jpeg of [rgb, cmyk]) {
        const cut = jpeg.subarray(0, Math.floor(jpeg.length * 0.6));
        for (const bytes of [cut, Buffer.concat([cut, Buffer.from([0xff, 0xd9])])]) {
          const error = await rejection(processor().process(write('cut.jpg', bytes)));
          expect(error.code).toBe('invalid_image');
        }
      }
    });

    it('refuses more pixels than MAX_IMAGE_PIXELS as image_too_many_pixels', async () => {
      const png = await noisyRgb(100, 100, 3).png().toBuffer();
      const limited = new ImageProcessor(validateEnv({ MAX_IMAGE_PIXELS: '1000' }));

      const error = await rejection(limited.process(write('100x100.png', png)));
      expect(error.code).toBe('image_too_many_pixels');
    });

    it('refuses an AVIF wider than its encoder writes (its original is re-encoded), not a 500', async () => {
      // A grid of two 8200×64 tiles, as cameras and avifenc write large images: 16400 wide.
      const wide = await gridAvif(8200, 64, 2);
      expect(await sharp(wide).metadata()).toMatchObject({ width: 16400, height: 64 });
      const error = await rejection(processor().process(write('panorama.avif', wide)));
      expect(error).toMatchObject({ code: 'image_too_many_pixels' });
      expect(error.message).toMatch(/AVIF image may be at most 16384 pixels/);
      // Filled (the Ocha API), it is stored at the fill's size.
      const filled = await processor().process(write('filled.avif', wide), {
        renditions: false,
        fill: { width: 320, height: 200 },
      });
      expect(filled.original).toMatchObject({ width: 320, height: 200 });
    });

    it('refuses a progressive JPEG of more scans than any encoder makes, from its markers', async () => {
      // 1024×1024 in 2,647 scans: each a pass over the image to decode (6000×6000 took 22 s).
      const bomb = progressiveScanBomb(1024);
      const refused = await rejection(processor().process(write('bomb.jpg', bomb)));
      expect(refused).toMatchObject({ code: 'image_too_complex' });
      expect(refused.message).toMatch(/more than 100 scans/);
      const stored = await rejection(
        processor().transform(
          { buffer: bomb },
          { width: 64, height: 64, fit: 'cover', format: 'webp', quality: 80 },
        ),
      );
      expect(stored).toMatchObject({ code: 'image_too_complex' });
      // An honest progressive JPEG (libjpeg's script: 10 scans) is taken.
      const honest = await noisyRgb(64, 64, 3).jpeg({ progressive: true }).toBuffer();
      await expect(processor().process(write('honest.jpg', honest))).resolves.toBeDefined();
    });

    it('refuses an SVG past SVG_RENDER_TIMEOUT_MS as image_too_complex, then goes on', async () => {
      const limited = new ImageProcessor(
        validateEnv({ SVG_RENDER_TIMEOUT_MS: '1000', IMAGE_PROCESSING_CONCURRENCY: '1' }),
      );
      // About 100 s of librsvg's time uncut (measured here): 40,000 characters on one line.
      const slow = Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">' +
          `<text y="20">${'x'.repeat(40_000)}</text></svg>`,
      );

      const upload = await rejection(limited.process(write('slow.svg', slow)));
      expect(upload).toMatchObject({
        code: 'image_too_complex',
        detail: 'The SVG takes longer than 1 s to render.',
      });
      // Delivery re-renders a stored SVG under the same limits.
      const spec = { width: 100, height: 50, fit: 'inside', format: 'png', quality: 80 } as const;
      expect((await rejection(limited.transform({ buffer: slow }, spec))).code).toBe(
        'image_too_complex',
      );
      // The one slot is free again: the next SVG is rendered.
      const logo = Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"><rect width="200" height="100" fill="red"/></svg>',
      );
      const done = await limited.process(write('logo.svg', logo));
      expect(done.original).toMatchObject({ format: 'svg', width: 200, height: 100 });
      expect(done).toMatchObject({ colorMode: 'RGBA', hasAlpha: true });
      expect(done.renditions.thumb).toMatchObject({ width: 150, height: 150 });
      expect(await limited.transform({ buffer: logo }, spec)).toMatchObject({
        format: 'png',
        width: 100,
        height: 50,
      });
    });

    it('refuses an SVG past SVG_RENDER_MAX_BYTES of memory as image_too_complex, counted', async () => {
      const metrics = new Metrics();
      const limited = new ImageProcessor(
        validateEnv({ SVG_RENDER_MAX_BYTES: String(256 * 1024 ** 2) }),
        metrics,
      );
      const greedy = Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="6000" height="6000">' +
          '<filter id="f"><feGaussianBlur stdDeviation="200"/></filter>' +
          '<rect width="6000" height="6000" fill="red" filter="url(#f)"/></svg>',
      );

      expect(await rejection(limited.process(write('greedy.svg', greedy)))).toMatchObject({
        code: 'image_too_complex',
        detail: 'The SVG takes more than 256 MB of memory to render.',
      });
      expect(await metrics.scrape()).toContain(
        'image_svg_renders_stopped_total{reason="memory"} 1',
      );
    });

    it("refuses an SVG that reaches librsvg's limit of referenced elements through a pattern, a mask or a marker as image_too_complex", async () => {
      // Each draws the 1,000 <use> its pattern, mask or marker holds, once per element painted,
      // masked or marked: 501,000 references, past librsvg's 500,000. The <use> count before
      // rendering does not see them (what <defs> holds is drawn only where referred to), and
      // librsvg's refusal had been answered as a corrupt file (400 invalid_image).
      const limited = new ImageProcessor(validateEnv({ SVG_RENDER_TIMEOUT_MS: '60000' }));
      const svg = (defs: string, body: string): Buffer =>
        Buffer.from(
          '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">' +
            `<defs><g id="r"/>${defs}</defs>${body}</svg>`,
        );
      const uses = '<use href="#r"/>'.repeat(1000);
      const fanOuts = {
        pattern: svg(
          `<pattern id="p" width="1" height="1" patternUnits="userSpaceOnUse">${uses}</pattern>`,
          '<rect width="1" height="1" fill="url(#p)"/>'.repeat(501),
        ),
        mask: svg(
          `<mask id="m">${uses}</mask>`,
          '<rect width="1" height="1" mask="url(#m)"/>'.repeat(501),
        ),
        marker: svg(
          `<marker id="k">${uses}</marker>`,
          `<path d="M0 0${' L1 1'.repeat(501)}" marker-mid="url(#k)"/>`,
        ),
      };
      for (const [kind, bytes] of Object.entries(fanOuts)) {
        const error = await rejection(limited.process(write(`${kind}.svg`, bytes)));
        expect({ kind, code: error.code, detail: error.message, errors: error.errors }).toEqual({
          kind,
          code: 'image_too_complex',
          detail:
            'The SVG refers to its own elements more than 500000 times (through <use>, ' +
            'patterns, masks, markers and the like), more than its renderer follows.',
          errors: [{ field: 'image', message: 'refers to its elements more than 500000 times' }],
        });
      }
    }, 120_000);

    it('takes an SVG whose root is namespace-prefixed (<s:svg xmlns:s=...>), stored unprefixed', async () => {
      // Valid SVG (XML namespaces: the prefix is the author's), which some tools write: it had
      // been refused as "not a JPEG, PNG, GIF, WebP, AVIF, BMP or SVG image", of an SVG.
      const prefixed = Buffer.from(
        '<?xml version="1.0"?>\n<s:svg xmlns:s="http://www.w3.org/2000/svg" ' +
          'xmlns:xlink="http://www.w3.org/1999/xlink" width="20" height="10">' +
          '<s:defs><s:rect id="r" width="20" height="10" fill="red"/></s:defs>' +
          '<s:use xlink:href="#r"/></s:svg>',
      );
      const made = await processor().process(write('prefixed.svg', prefixed));
      expect(made.original).toMatchObject({ format: 'svg', width: 20, height: 10 });
      // Written with the SVG namespace as the default, as libvips (and every viewer) reads it.
      expect(made.original.buffer.toString('utf8')).toBe(
        '<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" ' +
          'xmlns:xlink="http://www.w3.org/1999/xlink" width="20" height="10">' +
          '<defs><rect id="r" width="20" height="10" fill="red"/></defs>' +
          '<use xlink:href="#r"/></svg>',
      );
      const { data } = await sharp(made.renditions.thumb.buffer)
        .raw()
        .toBuffer({ resolveWithObject: true });
      expect([...data.subarray(0, 3)]).toEqual([255, 0, 0]);
      // A prefix bound to another namespace is no SVG: refused as the type it is not.
      const other = Buffer.from('<s:svg xmlns:s="http://example.com/not-svg" width="20"/>');
      const error = await rejection(processor().process(write('other.svg', other)));
      expect(error).toMatchObject({ code: 'unsafe_svg' });
      expect(error.message).toContain('root element must be');
    });

    it('refuses an SVG whose size comes to less than a pixel, saying so', async () => {
      // librsvg rounds its size to whole pixels: under half a pixel wide or high (0.4, 0.1 mm, a
      // viewBox of 0.4 without width and height) is none, which libvips calls "bad dimensions";
      // it had been answered "truncated or corrupt", of a well-formed file.
      const tiny = [
        'width="0.4" height="10"',
        'width="10" height="0.4"',
        'width="0.1mm" height="10"',
        'viewBox="0 0 0.4 0.4"',
      ];
      for (const size of tiny) {
        const svg = Buffer.from(
          `<svg xmlns="http://www.w3.org/2000/svg" ${size}><rect width="1" height="1"/></svg>`,
        );
        const error = await rejection(processor().process(write('tiny.svg', svg)));
        expect({ size, code: error.code, detail: error.message, errors: error.errors }).toEqual({
          size,
          code: 'invalid_image',
          detail:
            'The SVG renders smaller than 1 pixel: its width or height comes to less than half ' +
            'a pixel (1 px is 1 user unit, at 72 dpi). Give it a width and height of at least 1.',
          errors: [{ field: 'image', message: 'renders smaller than 1 pixel' }],
        });
      }
      // 0.6 rounds to 1: a 1×1 image.
      const small = Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="0.6" height="0.6"><rect width="1" height="1"/></svg>',
      );
      const made = await processor().process(write('small.svg', small));
      expect(made.original).toMatchObject({ format: 'svg', width: 1, height: 1 });
    });

    it("refuses an SVG whose check outgrows the sanitiser's heap as image_too_complex", async () => {
      // The child as started, with a 16 MiB heap instead of SVG_SANITIZER_HEAP_MB.
      const forks = jest.requireActual<typeof import('node:child_process')>('node:child_process');
      const realFork = forks.fork;
      const spy = jest.spyOn(forks, 'fork').mockImplementation(((
        path: string,
        args: string[],
        options: ForkOptions,
      ) =>
        realFork(path, args, {
          ...options,
          execArgv: ['--max-old-space-size=16'],
        })) as unknown as typeof realFork);
      try {
        const greedy = Buffer.from(
          `<svg xmlns="http://www.w3.org/2000/svg">${`<path d="M${'1'.repeat(20_000)}"/>`.repeat(2_000)}</svg>`,
        );
        const error = await rejection(
          new ImageProcessor(validateEnv({ MAX_UPLOAD_BYTES: String(64 * 1024 * 1024) })).process(
            write('greedy.svg', greedy),
          ),
        );
        expect(error).toMatchObject({ code: 'image_too_complex' });
        expect(error.message).toMatch(/MiB of memory to check/);
      } finally {
        spy.mockRestore();
      }
    });

    it("sizes the sanitiser's heap by MAX_UPLOAD_BYTES: 256 MiB to 15 MiB, 4 MiB more a MiB beyond", async () => {
      // It had been 256 MiB whatever MAX_UPLOAD_BYTES: a 200 MB SVG outgrew it (and, checked in a
      // worker thread then, outgrowing its heap in one allocation took the whole process down).
      const forks = jest.requireActual<typeof import('node:child_process')>('node:child_process');
      const realFork = forks.fork;
      const heaps: (string | undefined)[] = [];
      const spy = jest.spyOn(forks, 'fork').mockImplementation(((
        path: string,
        args: string[],
        options: ForkOptions,
      ) => {
        heaps.push(options.execArgv?.join(' '));
        return realFork(path, args, options);
      }) as unknown as typeof realFork);
      try {
        const logo = Buffer.from(
          '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><rect width="20" height="10"/></svg>',
        );
        for (const maxUploadBytes of [1024, 15 * 1024 ** 2, 15 * 1024 ** 2 + 1, 64 * 1024 ** 2]) {
          const config = validateEnv({ MAX_UPLOAD_BYTES: String(maxUploadBytes) });
          await new ImageProcessor(config).process(write('logo.svg', logo));
        }
        expect(heaps).toEqual([256, 256, 260, 452].map((mb) => `--max-old-space-size=${mb}`));
      } finally {
        spy.mockRestore();
      }
    });

    it("stops an upload's SVG check, then its render, at once when the upload is aborted", async () => {
      const forks = jest.requireActual<typeof import('node:child_process')>('node:child_process');
      const realFork = forks.fork;
      const exited: Promise<unknown>[] = [];
      const spy = jest.spyOn(forks, 'fork').mockImplementation(((
        path: string,
        args: string[],
        options: ForkOptions,
      ) => {
        const child = realFork(path, args, options);
        exited.push(new Promise((resolve) => child.once('exit', resolve)));
        return child;
      }) as unknown as typeof realFork);
      const processor = new ImageProcessor(validateEnv({ SVG_RENDER_TIMEOUT_MS: '30000' }));
      try {
        // 99,990 elements: half a second to more than one of the child's CPU.
        const crowded = Buffer.from(
          `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">${'<g/>'.repeat(99_985)}</svg>`,
        );
        const checking = new AbortController();
        const check = processor
          .process(write('crowded.svg', crowded), { renditions: true, signal: checking.signal })
          .catch((error: unknown) => error);
        await eventually(async () => exited.length > 0, 'the check to start', 10_000);
        const gone = new Error('the client has gone');
        const abortedAt = performance.now();
        checking.abort(gone);
        // Before, the check ran to its end, then the render, for an upload nobody waited for.
        await expect(check).resolves.toBe(gone);
        await exited[0];
        expect(performance.now() - abortedAt).toBeLessThan(400);
      } finally {
        spy.mockRestore();
      }
      // Its render, once checked: the child is killed, not left to its deadline (30 s).
      const slow = Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">' +
          `<text y="20">${'x'.repeat(40_000)}</text></svg>`,
      );
      const rendering = new AbortController();
      const render = processor
        .process(write('slow.svg', slow), { renditions: true, signal: rendering.signal })
        .catch((error: unknown) => error);
      const renders = () => childProcesses(process.pid, 'svg-render.child.cjs');
      await eventually(async () => renders().length > 0, 'the render to start', 20_000);
      const gone = new Error('the client has gone');
      rendering.abort(gone);
      await expect(render).resolves.toBe(gone);
      expect(renders()).toEqual([]);
    }, 60_000);

    it('refuses an SVG larger than MAX_IMAGE_PIXELS before rendering it', async () => {
      const limited = new ImageProcessor(validateEnv({ MAX_IMAGE_PIXELS: '1000' }));
      const big = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"/>');

      const error = await rejection(limited.process(write('big.svg', big)));
      expect(error.code).toBe('image_too_many_pixels');
    });
  });

  it('checks an SVG off the event loop: other work goes on while 99,990 elements are parsed', async () => {
    const processor = new ImageProcessor(validateEnv({}));
    // Refused for its <script>, found once the whole tree is parsed: no rendering after.
    const svg = Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg">${'<g/>'.repeat(99_989)}<script/></svg>`,
    );
    const file = write('crowded.svg', svg);
    // Other work of the service, queued the moment the upload's bytes are read: on the event loop,
    // the check would run first, to its end, and the refusal come before it.
    const order: string[] = [];
    const readFile = fs.promises.readFile;
    const reads = jest.spyOn(fs.promises, 'readFile').mockImplementation(async (...args) => {
      const bytes = await readFile(...args);
      setImmediate(() => order.push('other work'));
      return bytes;
    });
    try {
      const error = await rejection(processor.process(file));
      order.push('refused');
      expect({ code: error.code, detail: error.message }).toEqual({
        code: 'unsafe_svg',
        detail: 'The SVG was refused: SVG rejected (script): <script>',
      });
      expect(order).toEqual(['other work', 'refused']);
    } finally {
      reads.mockRestore();
    }
  });

  it('refuses work beyond the queue limit with server_busy, then recovers', async () => {
    const processor = new ImageProcessor(
      validateEnv({ IMAGE_PROCESSING_CONCURRENCY: '1', IMAGE_PROCESSING_QUEUE_LIMIT: '1' }),
    );
    const file = write('800x800.png', await noisyRgb(800, 800, 4).png().toBuffer());

    const settled = await Promise.allSettled([1, 2, 3, 4].map(() => processor.process(file)));

    const fulfilled = settled.filter((s) => s.status === 'fulfilled');
    const busy = settled.filter(
      (s) =>
        s.status === 'rejected' && s.reason instanceof AppError && s.reason.code === 'server_busy',
    );
    expect(fulfilled.length).toBeGreaterThanOrEqual(1);
    expect(busy.length).toBeGreaterThanOrEqual(1);
    expect(fulfilled.length + busy.length).toBe(4);
    const refused = busy[0];
    if (refused.status === 'rejected' && refused.reason instanceof AppError) {
      expect(refused.reason.headers).toEqual({ 'Retry-After': '5' });
    }

    const later = await processor.process(file);
    expect(later.original).toMatchObject({ width: 800, height: 800 });
  });

  it('lets 20 small uploads wait on two cores: the queue is sized by bytes waiting', async () => {
    const processor = new ImageProcessor(validateEnv({ IMAGE_PROCESSING_CONCURRENCY: '2' }));
    const file = write('small.png', await noisyRgb(200, 150, 4).png().toBuffer());

    const settled = await Promise.allSettled(
      Array.from({ length: 20 }, () => processor.process(file)),
    );

    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(20);
  });

  it('refuses work whose bytes would take the waiting queue over IMAGE_PROCESSING_QUEUE_BYTES', async () => {
    const png = await noisyRgb(300, 300, 4).png().toBuffer();
    const processor = new ImageProcessor(
      validateEnv({
        IMAGE_PROCESSING_CONCURRENCY: '1',
        IMAGE_PROCESSING_QUEUE_BYTES: String(png.length * 2),
      }),
    );
    const file = write('300x300.png', png);

    const settled = await Promise.allSettled([1, 2, 3, 4, 5].map(() => processor.process(file)));

    const codes = settled.map((s) =>
      s.status === 'fulfilled' ? 'ok' : s.reason instanceof AppError ? s.reason.code : 'other',
    );
    expect(codes.sort()).toEqual(['ok', 'ok', 'ok', 'server_busy', 'server_busy']);
  });
});
