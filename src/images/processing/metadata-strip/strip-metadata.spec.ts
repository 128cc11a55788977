import sharp from 'sharp';
import { noiseBytes } from '../../../../test/support/fixtures';
import { AppError } from '../../../common/errors/app.error';
import { deflateSync } from 'node:zlib';
import { progressiveComplete } from './jpeg-metadata';
import { MAX_ICC_PROFILE_BYTES, pngChunk } from './png-metadata';
import { stripMetadata } from './strip-metadata';

type Format = 'jpeg' | 'png' | 'webp';
const FORMATS: Format[] = ['jpeg', 'png', 'webp'];
const ORIENTATIONS = [1, 2, 3, 4, 5, 6, 7, 8];
const GPS = { IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1' } };
const XMP =
  '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="Someone Private"/></rdf:RDF></x:xmpmeta>';
const TRAILER = Buffer.from('trailing bytes after the end marker: a hidden payload');

/** A camera's upload: GPS in its EXIF, XMP, an ICC profile, comments/text and trailing bytes. */
async function upload(format: Format, orientation: number, alpha = false): Promise<Buffer> {
  const channels = alpha ? 4 : 3;
  const image = sharp(noiseBytes(48 * 32 * channels, 40), {
    raw: { width: 48, height: 32, channels },
  })
    .withMetadata({ orientation })
    .withIccProfile('p3')
    .withExifMerge({ IFD0: { Make: 'Camera' }, ...GPS })
    .withXmp(XMP);
  const encoded = await image[format]().toBuffer();
  return Buffer.concat([withComments(format, encoded), TRAILER]);
}

/** Adds what sharp does not write: a JPEG comment and IPTC block, PNG text and time chunks. */
function withComments(format: Format, bytes: Buffer): Buffer {
  if (format === 'jpeg') {
    const com = segment(0xfe, Buffer.from('a comment with a name in it'));
    const iptc = segment(
      0xed,
      Buffer.from('Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x00', 'latin1'),
    );
    return Buffer.concat([bytes.subarray(0, 2), com, iptc, bytes.subarray(2)]);
  }
  if (format === 'png') {
    const text = pngChunk('tEXt', Buffer.from('Author\0Someone Private', 'latin1'));
    const time = pngChunk('tIME', Buffer.from([7, 232, 1, 2, 3, 4, 5]));
    return Buffer.concat([bytes.subarray(0, 33), text, time, bytes.subarray(33)]);
  }
  return bytes;
}

function segment(marker: number, body: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
}

async function pixels(bytes: Buffer, rotate: boolean): Promise<Buffer> {
  const image = sharp(bytes);
  return (rotate ? image.rotate() : image).raw().toBuffer();
}

function strip(format: Format, bytes: Buffer, orientation: number): Buffer {
  const stripped = stripMetadata(format, bytes, orientation);
  if (!stripped) throw new Error(`${format} was not kept`);
  return stripped;
}

/** The stored file ends where its format ends: no byte after the end marker. */
function endsAtEndMarker(format: Format, bytes: Buffer): boolean {
  if (format === 'jpeg') return bytes.subarray(-2).equals(Buffer.from([0xff, 0xd9]));
  if (format === 'png')
    return bytes.toString('latin1', bytes.length - 8, bytes.length - 4) === 'IEND';
  return bytes.readUInt32LE(4) + 8 === bytes.length;
}

describe(stripMetadata.name, () => {
  describe.each(FORMATS)('%s', (format) => {
    it.each(ORIENTATIONS)(
      'orientation %i: the same pixels, the ICC profile, the orientation alone',
      async (orientation) => {
        const input = await upload(format, orientation);
        const before = await sharp(input).metadata();
        expect(before).toMatchObject({ orientation, hasProfile: true });
        expect(before.xmp).toBeDefined();
        expect(input.includes('Camera') && input.includes('Someone Private')).toBe(true);

        const stored = strip(format, input, orientation);

        const after = await sharp(stored).metadata();
        expect(after.orientation ?? 1).toBe(orientation);
        expect(after.icc).toEqual(before.icc);
        expect({ xmp: after.xmp, iptc: after.iptc, comments: after.comments }).toEqual({
          xmp: undefined,
          iptc: undefined,
          comments: undefined,
        });
        expect(after.exif === undefined || after.exif.length <= 6 + 26).toBe(true);
        if (orientation !== 1) expect(after.exif).toBeDefined();
        for (const secret of ['Camera', 'Someone Private', 'comment', 'trailing', 'Photoshop']) {
          expect(stored.includes(secret)).toBe(false);
        }
        expect(endsAtEndMarker(format, stored)).toBe(true);
        expect(await pixels(stored, false)).toEqual(await pixels(input, false));
        expect(await pixels(stored, true)).toEqual(await pixels(input, true));
      },
    );

    it('keeps transparency', async () => {
      if (format === 'jpeg') return;
      const input = await upload(format, 6, true);
      const stored = strip(format, input, 6);
      expect((await sharp(stored).metadata()).hasAlpha).toBe(true);
      expect(await pixels(stored, true)).toEqual(await pixels(input, true));
    });

    it('refuses truncated and corrupted files as invalid_image, never anything else', async () => {
      const input = await upload(format, 6);
      const variants: Buffer[] = [Buffer.alloc(0), input.subarray(0, 3)];
      for (let cut = 1; cut < input.length - TRAILER.length; cut += 7) {
        variants.push(input.subarray(0, cut));
      }
      const noise = noiseBytes(400, 255);
      for (let i = 0; i < 200; i++) {
        const corrupt = Buffer.from(input);
        corrupt[(noise[i] * 131 + i * 17) % corrupt.length] = noise[i + 200];
        variants.push(corrupt);
      }
      for (const variant of variants) {
        try {
          stripMetadata(format, variant, 6);
        } catch (error) {
          expect(error).toBeInstanceOf(AppError);
          expect((error as AppError).code).toBe('invalid_image');
        }
      }
    });
  });

  describe('a PNG whose kept chunks carry more than a decoder reads', () => {
    const PAYLOAD = '<html><script>alert(document.domain)</script></html>';
    /** `png` with `chunks` inserted after its IHDR (and without its own iCCP, if any). */
    async function withChunks(...chunks: Buffer[]): Promise<Buffer> {
      const png = await sharp(noiseBytes(16 * 8 * 3, 40), {
        raw: { width: 16, height: 8, channels: 3 },
      })
        .png()
        .toBuffer();
      return Buffer.concat([png.subarray(0, 33), ...chunks, png.subarray(33)]);
    }
    const iccp = (profile: Buffer) =>
      pngChunk('iCCP', Buffer.concat([Buffer.from('icc\0\0', 'latin1'), deflateSync(profile)]));
    /** A profile's shape: its size first, 'acsp' at byte 36. */
    function profileOf(size: number): Buffer {
      const profile = Buffer.alloc(size);
      profile.writeUInt32BE(size, 0);
      profile.write('acsp', 36, 'latin1');
      return profile;
    }

    it('drops one longer than the specification gives it, keeps one of its length', async () => {
      const pHYs = Buffer.from([0, 0, 0x0b, 0x13, 0, 0, 0x0b, 0x13, 1]);
      const input = await withChunks(
        pngChunk('pHYs', Buffer.concat([pHYs, Buffer.from(PAYLOAD)])),
        pngChunk('gAMA', Buffer.concat([Buffer.from([0, 0, 0xb1, 0x8f]), Buffer.from(PAYLOAD)])),
        pngChunk('cHRM', Buffer.alloc(32, 1)),
      );
      const stored = strip('png', input, 1);
      expect(stored.includes(PAYLOAD)).toBe(false);
      // The two chunks went whole (the encoder's own pHYs, if it wrote one, stays); cHRM stays.
      expect(stored.length).toBe(input.length - 2 * (12 + PAYLOAD.length) - 9 - 4);
      expect(stored.includes(Buffer.alloc(32, 1))).toBe(true);
      expect(await pixels(stored, false)).toEqual(await pixels(input, false));
    });

    it('drops a tRNS, bKGD or sBIT longer than the colour type gives it, keeps one of its length', async () => {
      // An RGB image's tRNS is one colour (6 bytes), not a palette's 256 alphas: the rest of a
      // 256-byte one is a payload no decoder reads.
      const payload = Buffer.from(PAYLOAD.repeat(5).slice(0, 250));
      const tRNS = Buffer.from([0, 1, 0, 2, 0, 3]);
      const rgbTooLong = await withChunks(
        pngChunk('tRNS', Buffer.concat([tRNS, payload])),
        pngChunk('bKGD', Buffer.from([0, 9, 0, 9, 0, 9])),
        pngChunk('sBIT', Buffer.from([8, 8, 8, 8])),
      );
      const stored = strip('png', rgbTooLong, 1);
      expect(stored.includes(payload.subarray(0, 40))).toBe(false);
      expect(stored.includes('tRNS')).toBe(false);
      expect(stored.includes('sBIT')).toBe(false);
      expect(stored.includes('bKGD')).toBe(true);
      const kept = strip('png', await withChunks(pngChunk('tRNS', tRNS)), 1);
      expect(kept.includes(Buffer.concat([Buffer.from('tRNS'), tRNS]))).toBe(true);
      // A palette's tRNS keeps an alpha for each of up to 256 entries.
      const palette = await sharp(noiseBytes(16 * 8 * 4, 41), {
        raw: { width: 16, height: 8, channels: 4 },
      })
        .png({ palette: true })
        .toBuffer();
      expect(strip('png', palette, 1).includes('tRNS')).toBe(true);
    });

    it('drops an ICC profile that inflates past MAX_ICC_PROFILE_BYTES, or is no profile', async () => {
      const bomb = iccp(profileOf(MAX_ICC_PROFILE_BYTES + 1));
      expect(bomb.length).toBeLessThan(64 * 1024);
      for (const chunk of [
        bomb,
        iccp(Buffer.from(PAYLOAD)),
        pngChunk('iCCP', Buffer.from(`icc\0\0${PAYLOAD}`, 'latin1')),
      ]) {
        const stored = strip('png', await withChunks(chunk), 1);
        expect(stored.includes('iCCP')).toBe(false);
      }
      const kept = strip('png', await withChunks(iccp(profileOf(4096))), 1);
      expect(kept.includes('iCCP')).toBe(true);
    });
  });

  describe('an animated WebP', () => {
    const frame = (n: number): Promise<Buffer> =>
      sharp(noiseBytes(16 * 16 * 3, n), { raw: { width: 16, height: 16, channels: 3 } })
        .png()
        .toBuffer();
    const animation = async (): Promise<Buffer> =>
      sharp([await frame(10), await frame(90), await frame(50)], { join: { animated: true } })
        .withExifMerge({ IFD0: { Make: 'Camera' }, ...GPS })
        .withXmp(XMP)
        .webp({ delay: [100, 200, 300], loop: 2 })
        .toBuffer();
    /** A chunk nobody defined, inside the first frame (after its 16-byte header and pixels). */
    const withUnknownInFrame = (webp: Buffer): Buffer => {
      const anmf = webp.indexOf('ANMF', 12, 'latin1');
      const size = webp.readUInt32LE(anmf + 4);
      const unknown = Buffer.concat([Buffer.from('XTRA\x06\0\0\0secret', 'latin1')]);
      const out = Buffer.concat([
        webp.subarray(0, anmf + 8 + size),
        unknown,
        webp.subarray(anmf + 8 + size),
      ]);
      out.writeUInt32LE(size + unknown.length, anmf + 4);
      out.writeUInt32LE(out.length - 8, 4);
      return out;
    };

    it('keeps every frame, delay and the loop count, without EXIF, XMP or unknown chunks', async () => {
      const input = withUnknownInFrame(await animation());
      const before = await sharp(input).metadata();
      expect(before).toMatchObject({ pages: 3, delay: [100, 200, 300], loop: 2 });
      expect(before.exif).toBeDefined();
      expect(input.includes('secret')).toBe(true);

      const stripped = strip('webp', input, 1);

      const after = await sharp(stripped).metadata();
      expect(after).toMatchObject({ pages: 3, delay: [100, 200, 300], loop: 2 });
      expect({ exif: after.exif, xmp: after.xmp }).toEqual({ exif: undefined, xmp: undefined });
      expect(stripped.includes('secret')).toBe(false);
      expect(stripped.includes('Camera')).toBe(false);
      const frames = (bytes: Buffer): Promise<Buffer> =>
        sharp(bytes, { animated: true }).raw().toBuffer();
      expect((await frames(stripped)).equals(await frames(input))).toBe(true);
    });

    it('is left to be re-encoded when it needs an orientation (libvips turns no frames)', async () => {
      expect(stripMetadata('webp', await animation(), 6)).toBeUndefined();
    });

    it('refuses a frame with no pixels in it as invalid_image', async () => {
      const input = await animation();
      const anmf = input.indexOf('ANMF', 12, 'latin1');
      const broken = Buffer.from(input);
      // The frame's first chunk after its header becomes unknown: the frame has no pixels left.
      broken.write('XTRA', anmf + 8 + 16, 'latin1');
      const error = (() => {
        try {
          stripMetadata('webp', broken, 1);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('invalid_image');
    });
  });

  describe('a JPEG or WebP whose ICC profile is no profile', () => {
    const PAYLOAD = '<html><script>alert(document.domain)</script></html>'.repeat(4);
    const image = () =>
      sharp(noiseBytes(16 * 8 * 3, 40), { raw: { width: 16, height: 8, channels: 3 } });
    /** A real profile: sharp's Display P3, as an upload carries it. */
    const p3 = async (): Promise<Buffer> =>
      (await sharp(await image().withIccProfile('p3').png().toBuffer()).metadata()).icc!;
    /** APP2 ICC_PROFILE segments holding `profile` in `parts` pieces, after the SOI. */
    async function jpegWith(profile: Buffer, parts = 1): Promise<Buffer> {
      const jpeg = await image().jpeg().toBuffer();
      const size = Math.ceil(profile.length / parts);
      const segments = Array.from({ length: parts }, (_, i) =>
        segment(
          0xe2,
          Buffer.concat([
            Buffer.from(`ICC_PROFILE\0${String.fromCharCode(i + 1, parts)}`, 'latin1'),
            profile.subarray(i * size, (i + 1) * size),
          ]),
        ),
      );
      return Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);
    }
    /** An extended WebP (VP8X with the ICC flag) whose ICCP chunk holds `profile`. */
    async function webpWith(profile: Buffer): Promise<Buffer> {
      const simple = await image().webp().toBuffer();
      const vp8 = simple.subarray(12);
      const vp8x = Buffer.alloc(10);
      vp8x[0] = 0x20;
      vp8x.writeUIntLE(16 - 1, 4, 3);
      vp8x.writeUIntLE(8 - 1, 7, 3);
      const chunk = (fourcc: string, data: Buffer) => {
        const head = Buffer.alloc(8);
        head.write(fourcc, 0, 'latin1');
        head.writeUInt32LE(data.length, 4);
        return Buffer.concat([head, data, Buffer.alloc(data.length & 1)]);
      };
      const body = Buffer.concat([chunk('VP8X', vp8x), chunk('ICCP', profile), vp8]);
      const head = Buffer.from('RIFF\0\0\0\0WEBP', 'latin1');
      head.writeUInt32LE(body.length + 4, 4);
      return Buffer.concat([head, body]);
    }

    it('drops it from a JPEG, and keeps a real one, whole or in pieces', async () => {
      const stored = strip('jpeg', await jpegWith(Buffer.from(PAYLOAD)), 1);
      expect(stored.includes(PAYLOAD)).toBe(false);
      expect(stored.includes('ICC_PROFILE')).toBe(false);
      for (const parts of [1, 3]) {
        const kept = strip('jpeg', await jpegWith(await p3(), parts), 1);
        expect((await sharp(kept).metadata()).icc).toEqual(await p3());
      }
    });

    it('drops it from a WebP, and keeps a real one', async () => {
      const stored = strip('webp', await webpWith(Buffer.from(PAYLOAD)), 1);
      expect(stored.includes(PAYLOAD)).toBe(false);
      expect(stored.includes('ICCP')).toBe(false);
      expect(stored[20] & 0x20).toBe(0); // the VP8X flag no longer claims one
      expect(await pixels(stored, false)).toEqual(
        await pixels(await webpWith(Buffer.from(PAYLOAD)), false),
      );
      const kept = strip('webp', await webpWith(await p3()), 1);
      expect((await sharp(kept).metadata()).icc).toEqual(await p3());
    });
  });

  it("keeps a JPEG's JFIF header without the thumbnail (or any bytes) it carries", async () => {
    const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#3c6' } })
      .jpeg()
      .toBuffer();
    // A 16×16 thumbnail of another picture in the JFIF header (Xthumbnail, Ythumbnail 16).
    const thumbnail = Buffer.alloc(16 * 16 * 3, 0xde);
    const header = Buffer.from('JFIF\0\x01\x02\x00\x00\x01\x00\x01', 'latin1');
    const jfif = segment(0xe0, Buffer.concat([header, Buffer.from([16, 16]), thumbnail]));
    const uploaded = Buffer.concat([jpeg.subarray(0, 2), jfif, jpeg.subarray(2)]);
    const stored = strip('jpeg', uploaded, 1);
    expect(stored.includes(thumbnail.subarray(0, 64))).toBe(false);
    // The header itself stays, saying it has no thumbnail.
    const kept = segment(0xe0, Buffer.concat([header, Buffer.from([0, 0])]));
    expect(stored.subarray(2, 2 + kept.length)).toEqual(kept);
    expect(await pixels(stored, false)).toEqual(await pixels(uploaded, false));
  });

  it("keeps a JPEG's Adobe segment without the bytes it carries past what the decoder reads", async () => {
    const jpeg = await sharp(noiseBytes(16 * 16 * 3, 31), {
      raw: { width: 16, height: 16, channels: 3 },
    })
      .jpeg()
      .toBuffer();
    // 'Adobe', version 100, flags0, flags1, transform 1 (YCbCr): the 12 bytes libjpeg reads.
    const adobe = Buffer.from('Adobe\0\x64\0\0\0\0\x01', 'latin1');
    const payload = Buffer.from('<html><script>alert(document.domain)</script></html>');
    const uploaded = Buffer.concat([
      jpeg.subarray(0, 2),
      segment(0xee, Buffer.concat([adobe, payload])),
      jpeg.subarray(2),
    ]);
    const stored = strip('jpeg', uploaded, 1);
    expect(stored.includes(payload)).toBe(false);
    expect(stored.includes(segment(0xee, adobe))).toBe(true);
    expect(await pixels(stored, false)).toEqual(await pixels(uploaded, false));
  });

  it('closes a JPEG whose last scan runs to its end without EOI, as libjpeg reads it', async () => {
    for (const progressive of [false, true]) {
      const whole = await sharp(noiseBytes(48 * 32 * 3, 31), {
        raw: { width: 48, height: 32, channels: 3 },
      })
        .jpeg({ progressive })
        .toBuffer();
      const stored = stripMetadata('jpeg', whole.subarray(0, -2), 1)!;
      expect({ progressive, end: [...stored.subarray(-2)] }).toEqual({
        progressive,
        end: [0xff, 0xd9],
      });
      const decoded = await sharp(stored, { failOn: 'warning' }).raw().toBuffer();
      expect(decoded.equals(await sharp(whole).raw().toBuffer())).toBe(true);
    }
  });

  it('leaves an arithmetic-coded JPEG to be re-encoded', async () => {
    const jpeg = await sharp(noiseBytes(16 * 16 * 3, 30), {
      raw: { width: 16, height: 16, channels: 3 },
    })
      .jpeg()
      .toBuffer();
    const arithmetic = Buffer.from(jpeg);
    arithmetic[jpeg.indexOf(Buffer.from([0xff, 0xc0])) + 1] = 0xc9;
    expect(stripMetadata('jpeg', arithmetic, 1)).toBeUndefined();
  });

  it('keeps GIF and other formats for the codec', () => {
    expect(stripMetadata('gif', Buffer.from('GIF89a'), 1)).toBeUndefined();
  });
});

describe(progressiveComplete.name, () => {
  it('is true of a whole progressive JPEG, false of one cut between two scans', async () => {
    const whole = await sharp(noiseBytes(48 * 32 * 3, 32), {
      raw: { width: 48, height: 32, channels: 3 },
    })
      .jpeg({ progressive: true })
      .toBuffer();
    expect(progressiveComplete(whole)).toBe(true);
    expect(progressiveComplete(whole.subarray(0, -2))).toBe(true);
    const scans: number[] = [];
    for (let at = whole.indexOf(Buffer.from([0xff, 0xda])); at !== -1;) {
      scans.push(at);
      at = whole.indexOf(Buffer.from([0xff, 0xda]), at + 1);
    }
    expect(scans).toHaveLength(10);
    for (const at of scans.slice(1)) {
      const cut = whole.subarray(0, at);
      const closed = Buffer.concat([cut, Buffer.from([0xff, 0xd9])]);
      expect({ at, cut: progressiveComplete(cut), closed: progressiveComplete(closed) }).toEqual({
        at,
        cut: false,
        closed: false,
      });
    }
  });
});
