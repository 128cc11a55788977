import { DOMParser, type Document } from '@xmldom/xmldom';
import sharp from 'sharp';
import {
  avif,
  bmp,
  cmykJpeg,
  exifHasGps,
  gif,
  harmlessJpegOddities,
  htmlBytes,
  jpegCutAndClosed,
  jpegWithOrientation6AndGps,
  noisyPng,
  pngClaiming,
  pngWithAlpha,
  safeSvg,
  solidJpeg,
  svgWithDoctypeEntity,
  svgWithEventHandler,
  svgWithExternalReference,
  svgWithForeignObject,
  svgWithScript,
  truncatedJpeg,
  webp,
} from './fixtures';

const KB = 1024;

/** RGB of pixel (x, y) in a raw, tightly packed buffer. */
function pixel(
  data: Buffer,
  info: { width: number; channels: number },
  x: number,
  y: number,
): number[] {
  const i = (y * info.width + x) * info.channels;
  return [data[i], data[i + 1], data[i + 2]];
}

function isRed([r, g, b]: number[]): boolean {
  return r > 200 && g < 60 && b < 60;
}

function isBlue([r, g, b]: number[]): boolean {
  return r < 60 && g < 60 && b > 200;
}

/** Bitwise CRC-32 (IEEE), independent of the zlib.crc32 used by the fixture. */
function referenceCrc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Parse XML strictly (any error or warning fails), never fetching anything. */
function parseXml(xml: Buffer): { doc: Document; problems: string[] } {
  const problems: string[] = [];
  const doc = new DOMParser({
    onError: (level, message) => {
      problems.push(`${level}: ${message}`);
    },
  }).parseFromString(xml.toString('utf8'), 'image/svg+xml');
  return { doc, problems };
}

describe('fixtures', () => {
  describe('jpegWithOrientation6AndGps', () => {
    it('stores 300×200 pixels with EXIF orientation 6 (displayed 200×300)', async () => {
      const buf = await jpegWithOrientation6AndGps();
      expect(buf.length).toBeLessThan(50 * KB);
      const meta = await sharp(buf).metadata();
      expect(meta.format).toBe('jpeg');
      expect(meta.width).toBe(300);
      expect(meta.height).toBe(200);
      expect(meta.orientation).toBe(6);
      expect(meta.autoOrient).toEqual({ width: 200, height: 300 });
    });

    it('carries GPS EXIF (GPS IFD pointer 0x8825 in IFD0)', async () => {
      const { exif } = await sharp(await jpegWithOrientation6AndGps()).metadata();
      expect(exif).toBeDefined();
      expect(exifHasGps(exif)).toBe(true);
      // libvips writes little-endian TIFF: tag 0x8825, type LONG (4).
      expect(exif!.includes(Buffer.from([0x25, 0x88, 0x04, 0x00]))).toBe(true);
      expect(exif!.toString('latin1')).toContain('FixtureCam');
    });

    it('is oriented visually: stored left=red/right=blue, upright top=red/bottom=blue', async () => {
      const buf = await jpegWithOrientation6AndGps();
      const stored = await sharp(buf).raw().toBuffer({ resolveWithObject: true });
      expect(stored.info.width).toBe(300);
      expect(isRed(pixel(stored.data, stored.info, 10, 100))).toBe(true);
      expect(isBlue(pixel(stored.data, stored.info, 290, 100))).toBe(true);

      // .rotate() with no angle (alias .autoOrient()) honours orientation 6.
      const upright = await sharp(buf).rotate().raw().toBuffer({ resolveWithObject: true });
      expect(upright.info).toMatchObject({ width: 200, height: 300 });
      expect(isRed(pixel(upright.data, upright.info, 100, 10))).toBe(true);
      expect(isBlue(pixel(upright.data, upright.info, 100, 290))).toBe(true);
    });

    it('documents sharp: re-encoding strips EXIF unless keepExif() is used', async () => {
      const buf = await jpegWithOrientation6AndGps();
      const stripped = await sharp(await sharp(buf).rotate().jpeg().toBuffer()).metadata();
      expect(stripped.exif).toBeUndefined();
      expect(stripped.orientation).toBeUndefined();
      expect(exifHasGps(stripped.exif)).toBe(false);

      const kept = await sharp(await sharp(buf).rotate().keepExif().jpeg().toBuffer()).metadata();
      expect(kept).toMatchObject({ width: 200, height: 300, orientation: 1 });
      expect(exifHasGps(kept.exif)).toBe(true);
    });

    it('is deterministic', async () => {
      expect((await jpegWithOrientation6AndGps()).equals(await jpegWithOrientation6AndGps())).toBe(
        true,
      );
    });
  });

  describe('exifHasGps', () => {
    it('is false for missing or empty EXIF and for images without EXIF', async () => {
      expect(exifHasGps(undefined)).toBe(false);
      expect(exifHasGps(Buffer.alloc(0))).toBe(false);
      expect(exifHasGps((await sharp(await solidJpeg()).metadata()).exif)).toBe(false);
    });

    it('is false for EXIF without a GPS IFD', async () => {
      const buf = await sharp(await solidJpeg())
        .withExif({ IFD0: { Make: 'NoGps', Copyright: 'x' } })
        .jpeg()
        .toBuffer();
      const { exif } = await sharp(buf).metadata();
      expect(exif).toBeDefined();
      expect(exif!.toString('latin1')).toContain('NoGps');
      expect(exifHasGps(exif)).toBe(false);
    });

    it('handles big-endian TIFF with and without the "Exif\\0\\0" prefix', () => {
      // MM, 42, IFD0 at 8: one entry 0x8825 LONG -> 26; GPS IFD at 26: GPSVersionID 2.2.0.0.
      const tiff = Buffer.from(
        ['4d4d002a', '00000008'] // byte order, magic, IFD0 offset
          .concat(['0001', '8825', '0004', '00000001', '0000001a', '00000000']) // IFD0
          .concat(['0001', '0000', '0001', '00000004', '02020000', '00000000']) // GPS IFD
          .join(''),
        'hex',
      );
      expect(tiff.readUInt32BE(8 + 2 + 8)).toBe(26);
      expect(tiff.length).toBe(26 + 18);
      expect(exifHasGps(tiff)).toBe(true);
      expect(exifHasGps(Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]))).toBe(true);

      const noGps = Buffer.from(tiff);
      noGps.writeUInt16BE(0x0131, 10); // retag the entry as Software
      expect(exifHasGps(noGps)).toBe(false);
    });

    it('falls back to a byte search for unparseable blobs', () => {
      expect(exifHasGps(Buffer.from('garbage \x25\x88\x04\x00 tail', 'latin1'))).toBe(true);
      expect(exifHasGps(Buffer.from('garbage without the tag', 'latin1'))).toBe(false);
    });
  });

  describe('sharp-encoded formats', () => {
    it('cmykJpeg is a CMYK JPEG', async () => {
      const meta = await sharp(await cmykJpeg()).metadata();
      expect(meta).toMatchObject({ format: 'jpeg', space: 'cmyk', channels: 4 });
    });

    it('pngWithAlpha is a 120×80 PNG with a semi-transparent alpha channel', async () => {
      const buf = await pngWithAlpha();
      const meta = await sharp(buf).metadata();
      expect(meta).toMatchObject({ format: 'png', width: 120, height: 80, hasAlpha: true });
      const alpha = (await sharp(buf).stats()).channels[3];
      expect(alpha.min).toBe(128);
      expect(alpha.max).toBe(255);
    });

    it('gif, webp and avif decode as their formats', async () => {
      expect(await sharp(await gif()).metadata()).toMatchObject({
        format: 'gif',
        width: 40,
        height: 30,
      });
      expect(await sharp(await webp()).metadata()).toMatchObject({
        format: 'webp',
        width: 64,
        height: 48,
      });
      // sharp reports AVIF as the HEIF container with AV1 compression.
      expect(await sharp(await avif()).metadata()).toMatchObject({
        format: 'heif',
        compression: 'av1',
        width: 64,
        height: 48,
      });
    });

    it('solidJpeg has the requested size', async () => {
      expect(await sharp(await solidJpeg()).metadata()).toMatchObject({
        format: 'jpeg',
        width: 64,
        height: 64,
      });
      expect(await sharp(await solidJpeg(10, 20)).metadata()).toMatchObject({
        width: 10,
        height: 20,
      });
    });

    it('file-type sniffs the binary fixtures from their bytes', async () => {
      const { fileTypeFromBuffer } = await import('file-type');
      const mime = async (b: Buffer) => (await fileTypeFromBuffer(b))?.mime;
      expect(await mime(await jpegWithOrientation6AndGps())).toBe('image/jpeg');
      expect(await mime(await cmykJpeg())).toBe('image/jpeg');
      expect(await mime(await pngWithAlpha())).toBe('image/png');
      expect(await mime(await gif())).toBe('image/gif');
      expect(await mime(await webp())).toBe('image/webp');
      expect(await mime(await avif())).toBe('image/avif');
      expect(await mime(bmp())).toBe('image/bmp');
      expect(await mime(pngClaiming(100_000, 100_000))).toBe('image/png');
      expect(await mime(await truncatedJpeg())).toBe('image/jpeg');
      expect(await mime(htmlBytes())).toBeUndefined();
      expect(await mime(safeSvg())).toBe('application/xml'); // file-type has no SVG detection
    });
  });

  describe('bmp', () => {
    it('writes a valid 24-bit bottom-up BMP with 4-byte padded rows', () => {
      const buf = bmp(5, 3); // 15 bytes per row, padded to 16
      expect(buf.toString('latin1', 0, 2)).toBe('BM');
      expect(buf.readUInt32LE(2)).toBe(buf.length);
      expect(buf.readUInt32LE(10)).toBe(54);
      expect(buf.readUInt32LE(14)).toBe(40);
      expect(buf.readInt32LE(18)).toBe(5);
      expect(buf.readInt32LE(22)).toBe(3);
      expect(buf.readUInt16LE(26)).toBe(1);
      expect(buf.readUInt16LE(28)).toBe(24);
      expect(buf.readUInt32LE(30)).toBe(0);
      expect(buf.readUInt32LE(34)).toBe(16 * 3);
      expect(buf.length).toBe(54 + 16 * 3);
      // Top-left pixel is in the last stored row: BGR = 64, 0, 0.
      expect([...buf.subarray(54 + 2 * 16, 54 + 2 * 16 + 3)]).toEqual([64, 0, 0]);
      // Bottom-right pixel is in the first stored row: BGR = 64, 255, 255.
      expect([...buf.subarray(54 + 4 * 3, 54 + 4 * 3 + 3)]).toEqual([64, 255, 255]);
    });

    it('defaults to 64×48 and stays small', () => {
      const buf = bmp();
      expect(buf.readInt32LE(18)).toBe(64);
      expect(buf.readInt32LE(22)).toBe(48);
      expect(buf.length).toBe(54 + 64 * 3 * 48);
      expect(buf.length).toBeLessThan(50 * KB);
    });

    it('is NOT readable by sharp 0.35 here (prebuilt libvips has no BMP loader)', async () => {
      expect(sharp.format).not.toHaveProperty('bmp');
      expect(sharp.format.magick.input.buffer).toBe(false);
      await expect(sharp(bmp()).metadata()).rejects.toThrow(/unsupported image format/);
    });
  });

  describe('svg', () => {
    it('safeSvg is well-formed, 100×100, uses url(#id), and sharp renders it', async () => {
      const buf = safeSvg();
      const { doc, problems } = parseXml(buf);
      expect(problems).toEqual([]);
      const root = doc.documentElement!;
      expect(root.tagName).toBe('svg');
      expect(root.getAttribute('width')).toBe('100');
      expect(root.getAttribute('height')).toBe('100');
      for (const tag of ['title', 'linearGradient', 'rect', 'circle', 'path']) {
        expect(doc.getElementsByTagName(tag).length).toBeGreaterThan(0);
      }
      expect(doc.getElementsByTagName('script').length).toBe(0);
      expect(buf.toString()).toContain('fill="url(#sky)"');
      expect(buf.toString()).not.toMatch(/\son\w+=|href|<!DOCTYPE|<!ENTITY/i);

      expect(await sharp(buf).metadata()).toMatchObject({ format: 'svg', width: 100, height: 100 });
      const png = await sharp(buf).png().toBuffer();
      expect(await sharp(png).metadata()).toMatchObject({ format: 'png', width: 100 });
    });

    // The hostile SVGs are parsed as XML only, never rendered, so nothing is fetched.
    it('svgWithScript contains a <script> element', () => {
      const { doc, problems } = parseXml(svgWithScript());
      expect(problems).toEqual([]);
      expect(doc.getElementsByTagName('script')[0]?.textContent).toBe('alert(1)');
    });

    it('svgWithEventHandler has an onload attribute on the root', () => {
      const { doc, problems } = parseXml(svgWithEventHandler());
      expect(problems).toEqual([]);
      expect(doc.documentElement!.getAttribute('onload')).toBe('alert(1)');
    });

    it('svgWithForeignObject contains a foreignObject with XHTML', () => {
      const { doc, problems } = parseXml(svgWithForeignObject());
      expect(problems).toEqual([]);
      const fo = doc.getElementsByTagName('foreignObject');
      expect(fo.length).toBe(1);
      expect(fo[0].getElementsByTagName('div')[0]?.namespaceURI).toBe(
        'http://www.w3.org/1999/xhtml',
      );
    });

    it('svgWithExternalReference references an external URL via href and xlink:href', () => {
      const { doc, problems } = parseXml(svgWithExternalReference());
      expect(problems).toEqual([]);
      const images = doc.getElementsByTagName('image');
      expect(images.length).toBe(2);
      expect(images[0].getAttribute('href')).toMatch(/^http:\/\/169\.254\.169\.254\//);
      expect(images[1].getAttributeNS('http://www.w3.org/1999/xlink', 'href') ?? '').toMatch(
        /^http:\/\/169\.254\.169\.254\//,
      );
    });

    it('svgWithDoctypeEntity declares XXE and nested entities in a DOCTYPE', () => {
      const buf = svgWithDoctypeEntity();
      const { doc, problems } = parseXml(buf);
      // xmldom keeps the internal subset but does not expand the entities (it complains).
      expect(doc.doctype?.name).toBe('svg');
      expect(doc.doctype?.internalSubset).toContain('<!ENTITY xxe SYSTEM "file:///etc/passwd">');
      expect(doc.doctype?.internalSubset).toMatch(/<!ENTITY lol3 "(&lol2;){10}">/);
      expect(problems.some((p) => p.includes('entity not found'))).toBe(true);
      expect(buf.toString()).toContain('&xxe;&lol3;');
    });
  });

  describe('htmlBytes', () => {
    it('is an HTML document with a script that sharp refuses', async () => {
      const buf = htmlBytes();
      expect(buf.toString()).toBe(
        '<!DOCTYPE html><html><body><script>alert(1)</script></body></html>',
      );
      await expect(sharp(buf).metadata()).rejects.toThrow(/unsupported image format/);
    });
  });

  describe('truncatedJpeg', () => {
    it('is the first 60% of a ~20 KB JPEG: header readable, no EOI', async () => {
      const buf = await truncatedJpeg();
      expect(buf.length).toBeGreaterThan(10 * KB);
      expect(buf.length).toBeLessThan(14 * KB);
      expect([...buf.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
      expect([...buf.subarray(-2)]).not.toEqual([0xff, 0xd9]);
      expect(await sharp(buf).metadata()).toMatchObject({ format: 'jpeg', width: 128 });
    });

    it('is rejected by decoding with failOn truncated, error and the default (warning)', async () => {
      const buf = await truncatedJpeg();
      await expect(sharp(buf, { failOn: 'truncated' }).toBuffer()).rejects.toThrow(
        /premature end/i,
      );
      await expect(sharp(buf, { failOn: 'error' }).toBuffer()).rejects.toThrow(/premature end/i);
      await expect(sharp(buf).toBuffer()).rejects.toThrow(/premature end/i);
      // failOn 'none' silently decodes the partial image.
      await expect(sharp(buf, { failOn: 'none' }).toBuffer()).resolves.toBeInstanceOf(Buffer);
    });
  });

  describe('jpegCutAndClosed', () => {
    it('ends with EOI, and libjpeg only warns of its scan cut short, decoding grey rows', async () => {
      const buf = await jpegCutAndClosed();
      expect([...buf.subarray(-2)]).toEqual([0xff, 0xd9]);
      await expect(sharp(buf, { failOn: 'warning' }).toBuffer()).rejects.toThrow(
        /premature end of data segment/,
      );
      const { data, info } = await sharp(buf, { failOn: 'error' })
        .raw()
        .toBuffer({ resolveWithObject: true });
      expect({ width: info.width, height: info.height }).toEqual({ width: 320, height: 240 });
      // libjpeg fills what it lacked with mid-grey: the whole last row is 128, 128, 128.
      const lastRow = data.subarray((info.height - 1) * info.width * info.channels);
      expect(new Set(lastRow)).toEqual(new Set([128]));
    });
  });

  describe('harmlessJpegOddities', () => {
    it('are each the whole 320×240 picture to libjpeg', async () => {
      // failOn 'none': a missing EOI is "truncated" to libvips, though every row is there.
      const decoded = (jpeg: Buffer) => sharp(jpeg, { failOn: 'none' }).raw().toBuffer();
      const whole = await decoded((await jpegCutAndClosed({ share: 1 })).subarray(0, -2));
      for (const { name, jpeg } of await harmlessJpegOddities()) {
        expect({ name, whole: (await decoded(jpeg)).equals(whole) }).toEqual({ name, whole: true });
      }
    });
  });

  describe('pngClaiming', () => {
    it('is tiny and its header claims the given size', async () => {
      const buf = pngClaiming(100_000, 100_000);
      expect(buf.length).toBeLessThan(100);
      // Above limitInputPixels even metadata() refuses; with the limit off it reads the IHDR.
      await expect(sharp(buf).metadata()).rejects.toThrow(/exceeds pixel limit/);
      expect(await sharp(buf, { limitInputPixels: false }).metadata()).toMatchObject({
        format: 'png',
        width: 100_000,
        height: 100_000,
      });
    });

    it('reports sizes under the pixel limit with default options, and cannot decode', async () => {
      const buf = pngClaiming(3000, 2000);
      expect(await sharp(buf).metadata()).toMatchObject({
        format: 'png',
        width: 3000,
        height: 2000,
      });
      await expect(sharp(buf).toBuffer()).rejects.toThrow();
    });

    it('has correct chunk CRCs (checked here: libvips ignores a bad IHDR CRC in metadata())', async () => {
      const buf = pngClaiming(100_000, 100_000);
      expect(buf.subarray(0, 8).toString('latin1')).toBe('\x89PNG\r\n\x1a\n');
      const types: string[] = [];
      for (let at = 8; at < buf.length;) {
        const length = buf.readUInt32BE(at);
        const typeAndData = buf.subarray(at + 4, at + 8 + length);
        expect(buf.readUInt32BE(at + 8 + length)).toBe(referenceCrc32(typeAndData));
        types.push(typeAndData.toString('latin1', 0, 4));
        at += 12 + length;
      }
      expect(types).toEqual(['IHDR', 'IDAT', 'IEND']);

      const corrupted = Buffer.from(pngClaiming(3000, 2000));
      corrupted[8 + 8 + 13] ^= 0xff; // first CRC byte of IHDR
      await expect(sharp(corrupted).metadata()).resolves.toMatchObject({ width: 3000 });
      await expect(sharp(corrupted).toBuffer()).rejects.toThrow();
    });

    it('rejects invalid dimensions', () => {
      expect(() => pngClaiming(0, 1)).toThrow(RangeError);
      expect(() => pngClaiming(2 ** 31, 1)).toThrow(RangeError);
    });
  });

  describe('noisyPng', () => {
    it('has the given size, scales with pixel count and is deterministic', async () => {
      const small = await noisyPng(50, 50);
      const large = await noisyPng(100, 100);
      expect(await sharp(large).metadata()).toMatchObject({
        format: 'png',
        width: 100,
        height: 100,
      });
      expect(large.length).toBeGreaterThan(3 * 100 * 100);
      expect(large.length).toBeLessThan(3 * 100 * 100 + 2 * KB);
      expect(small.length).toBeGreaterThan(3 * 50 * 50);
      expect(large.length / small.length).toBeGreaterThan(3.5);
      expect((await noisyPng(100, 100)).equals(large)).toBe(true);
    });
  });

  it('keeps every fixture small (< 50 KB)', async () => {
    const all: Buffer[] = [
      await jpegWithOrientation6AndGps(),
      await cmykJpeg(),
      await pngWithAlpha(),
      await gif(),
      await webp(),
      await avif(),
      bmp(),
      safeSvg(),
      svgWithScript(),
      svgWithEventHandler(),
      svgWithForeignObject(),
      svgWithExternalReference(),
      svgWithDoctypeEntity(),
      htmlBytes(),
      await truncatedJpeg(),
      pngClaiming(100_000, 100_000),
      await solidJpeg(),
    ];
    for (const buf of all) {
      expect(buf.length).toBeGreaterThan(0);
      expect(buf.length).toBeLessThan(50 * KB);
    }
  });
});
