import { bmp, bmp32 } from '../../../test/support/fixtures';
import { BmpError, decodeBmp } from './bmp';
import { humanReadableSize } from './human-size';

describe(decodeBmp.name, () => {
  it('decodes a 24-bit bottom-up BMP to RGB', () => {
    const image = decodeBmp(bmp(5, 3), 1000);
    expect(image).toMatchObject({ width: 5, height: 3, channels: 3 });
    expect(image.data).toHaveLength(5 * 3 * 3);
  });

  it.each([40, 124] as const)(
    'reads a 32-bit BMP declaring no alpha mask (header %i) as opaque RGB: its fourth byte unused',
    (header) => {
      const image = decodeBmp(bmp32(header, [200, 30, 60], { width: 2, height: 1 }), 100);
      expect(image).toMatchObject({ width: 2, height: 1, channels: 3 });
      expect([...image.data]).toEqual([200, 30, 60, 200, 30, 60]);
    },
  );

  it('reads the alpha of a 32-bit BMP declaring its alpha mask', () => {
    const input = bmp32(124, [200, 30, 60], {
      width: 1,
      height: 1,
      alphaMask: 0xff000000,
      fourth: 77,
    });
    const image = decodeBmp(input, 100);
    expect(image).toMatchObject({ channels: 4 });
    expect([...image.data]).toEqual([200, 30, 60, 77]);
    // Any other alpha mask is no layout this decoder knows.
    const odd = bmp32(124, [1, 2, 3], { alphaMask: 0x0000ff00 });
    expect(() => decodeBmp(odd, 1_000_000)).toThrow(BmpError);
  });

  it('reads a 32-bit BMP whose declared alpha is 0 everywhere as opaque RGB, as browsers show it', () => {
    // Encoders that write a V5 header often leave every alpha byte 0; browsers (Chromium's and
    // Firefox's BMP readers) then ignore the alpha rather than show nothing.
    const input = bmp32(124, [200, 30, 60], { width: 2, height: 1, alphaMask: 0xff000000 });
    const image = decodeBmp(input, 100);
    expect(image).toMatchObject({ width: 2, height: 1, channels: 3 });
    expect([...image.data]).toEqual([200, 30, 60, 200, 30, 60]);
  });

  /**
   * A bottom-up paletted BMP of `bpp` bits a pixel (as Paint saves a monochrome or 16-colour
   * bitmap): `rows` of palette indices, top row first, and the palette's colours as RGB.
   */
  function palettedBmp(bpp: 1 | 4 | 8, palette: number[][], rows: number[][]): Buffer {
    const [width, height] = [rows[0].length, rows.length];
    const rowSize = Math.ceil((bpp * width) / 32) * 4;
    const offset = 14 + 40 + palette.length * 4;
    const buf = Buffer.alloc(offset + rowSize * height);
    buf.write('BM', 0, 'latin1');
    buf.writeUInt32LE(buf.length, 2);
    buf.writeUInt32LE(offset, 10);
    buf.writeUInt32LE(40, 14);
    buf.writeInt32LE(width, 18);
    buf.writeInt32LE(height, 22);
    buf.writeUInt16LE(1, 26);
    buf.writeUInt16LE(bpp, 28);
    buf.writeUInt32LE(palette.length, 46);
    palette.forEach(([r, g, b], i) => buf.set([b, g, r, 0], 54 + i * 4));
    rows.forEach((row, y) => {
      const start = offset + (height - 1 - y) * rowSize;
      row.forEach((index, x) => {
        const bit = x * bpp;
        buf[start + (bit >> 3)] |= index << (8 - bpp - (bit & 7));
      });
    });
    return buf;
  }

  it.each([1, 4, 8] as const)('decodes a %i-bit paletted BMP', (bpp) => {
    const palette = [[0, 0, 0], [255, 255, 255], ...(bpp === 1 ? [] : [[200, 30, 60]])];
    const last = palette.length - 1;
    const rows = [
      [0, 1, last, 0, 1, last, 0, 1, last, 1],
      [last, 0, 1, last, 0, 1, last, 0, 1, 0],
    ];
    const image = decodeBmp(palettedBmp(bpp, palette, rows), 100);
    expect(image).toMatchObject({ width: 10, height: 2, channels: 3 });
    expect([...image.data]).toEqual(rows.flat().flatMap((index) => palette[index]));
  });

  /** A 16-bit BMP of one row: BI_RGB (X1R5G5B5), or BI_BITFIELDS with the 5-6-5 masks. */
  function bmp16(layout: '555' | '565', pixels: number[]): Buffer {
    const masks = layout === '565' ? [0xf800, 0x07e0, 0x001f] : undefined;
    const offset = 14 + 40 + (masks ? 12 : 0);
    const rowSize = Math.ceil((16 * pixels.length) / 32) * 4;
    const buf = Buffer.alloc(offset + rowSize);
    buf.write('BM', 0, 'latin1');
    buf.writeUInt32LE(buf.length, 2);
    buf.writeUInt32LE(offset, 10);
    buf.writeUInt32LE(40, 14);
    buf.writeInt32LE(pixels.length, 18);
    buf.writeInt32LE(1, 22);
    buf.writeUInt16LE(1, 26);
    buf.writeUInt16LE(16, 28);
    buf.writeUInt32LE(masks ? 3 : 0, 30);
    masks?.forEach((mask, i) => buf.writeUInt32LE(mask, 54 + 4 * i));
    pixels.forEach((pixel, x) => buf.writeUInt16LE(pixel, offset + 2 * x));
    return buf;
  }

  it.each([
    ['X1R5G5B5 (BI_RGB)', '555', [0x7c00, 0x03e0, 0x001f, 0x7fff, 0x0000]],
    ['R5G6B5 (BI_BITFIELDS)', '565', [0xf800, 0x07e0, 0x001f, 0xffff, 0x0000]],
  ] as const)('decodes a 16-bit BMP, %s', (_name, layout, pixels) => {
    const image = decodeBmp(bmp16(layout, [...pixels]), 100);
    expect(image).toMatchObject({ width: 5, height: 1, channels: 3 });
    expect([...image.data]).toEqual([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0]);
  });

  it.each([
    ['not a BMP', Buffer.from('GIF89a')],
    ['truncated', bmp(64, 48).subarray(0, 200)],
    ['empty', Buffer.alloc(0)],
  ])('refuses %s', (_name, input) => {
    expect(() => decodeBmp(input, 1_000_000)).toThrow(BmpError);
  });

  it('refuses more pixels than allowed, before allocating them', () => {
    expect(() => decodeBmp(bmp(64, 48), 64 * 48 - 1)).toThrow(/pixel limit/);
  });
});

describe(humanReadableSize.name, () => {
  it.each([
    [0, '0 bytes'],
    [1, '1 byte'],
    [1023, '1023 bytes'],
    [1024, '1 KB'],
    [2_621_440, '2.5 MB'],
    [15 * 1024 * 1024, '15 MB'],
    [150 * 1024, '150 KB'],
  ])('%i → %s', (bytes, text) => expect(humanReadableSize(bytes)).toBe(text));
});
