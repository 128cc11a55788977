import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { exifHasGps, noiseBytes } from '../../../test/support/fixtures';
import { AppError } from '../../common/errors/app.error';
import { validateEnv } from '../../config/env.validation';
import { ImageProcessor, type ProcessedImage } from './image-processor';
import { parseRenditionPresets, renditionSize } from './rendition-presets';

type Colour = 'red' | 'blue' | 'green';
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

/** No EXIF, or one whose only field is the orientation (the minimal block originals keep). */
function orientationOnly(exif: Buffer | undefined): boolean {
  if (exif === undefined) return true;
  const tiff = exif.subarray(exif.indexOf('MM\0*', 0, 'latin1'));
  return tiff.length === 26 && tiff.readUInt16BE(8) === 1 && tiff.readUInt16BE(10) === 0x0112;
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

  it('reports a CMYK upload as CMYK and stores it as sRGB', async () => {
    const input = await redBlue().toColourspace('cmyk').jpeg().toBuffer();
    expect((await sharp(input).metadata()).space).toBe('cmyk');

    const result = await new ImageProcessor(validateEnv({})).process(write('cmyk.jpg', input));

    expect(result.colorMode).toBe('CMYK');
    expect(result.hasAlpha).toBe(false);
    expect((await sharp(result.original.buffer).metadata()).space).toBe('srgb');
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
      // The left of the crop is still grey only if the crop was centred; it must show noise.
      const stats = await sharp(result.original.buffer)
        .extract({ left: 0, top: 0, width: 100, height: 500 })
        .stats();
      expect(stats.channels[0].stdev).toBeGreaterThan(0);
      const right = await sharp(result.original.buffer)
        .extract({ left: 250, top: 0, width: 250, height: 500 })
        .stats();
      expect(right.channels[0].stdev).toBeGreaterThan(20);
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

    it('refuses more pixels than MAX_IMAGE_PIXELS as image_too_many_pixels', async () => {
      const png = await noisyRgb(100, 100, 3).png().toBuffer();
      const limited = new ImageProcessor(validateEnv({ MAX_IMAGE_PIXELS: '1000' }));

      const error = await rejection(limited.process(write('100x100.png', png)));
      expect(error.code).toBe('image_too_many_pixels');
    });
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
