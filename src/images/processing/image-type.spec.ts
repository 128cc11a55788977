import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { AppError } from '../../common/errors/app.error';
import { validateEnv } from '../../config/env.validation';
import { ImageProcessor } from './image-processor';
import { detectImageType } from './image-type';

/** `avif` with its ftyp box's major brand set to `brand`; its compatible brands unchanged. */
function withMajorBrand(avif: Buffer, brand: string): Buffer {
  const patched = Buffer.from(avif);
  expect(patched.toString('latin1', 4, 8)).toBe('ftyp');
  patched.write(brand, 8, 'latin1');
  return patched;
}

describe(detectImageType.name, () => {
  let dir: string;
  let avif: Buffer;
  const write = (name: string, bytes: Buffer): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    return file;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-type-'));
    avif = await sharp({ create: { width: 6, height: 4, channels: 3, background: '#c33' } })
      .avif()
      .toBuffer();
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("takes an AVIF whose major brand is the HEIF container's (mif1), 'avif' among its compatible brands", async () => {
    // The AVIF specification asks for 'avif' among the compatible brands, not as the major one;
    // browsers sniff it there, and libheif decodes the file as any AVIF.
    const mif1 = withMajorBrand(avif, 'mif1');
    expect(mif1.toString('latin1', 16, 32)).toContain('avif');
    const file = write('mif1.avif', mif1);
    await expect(detectImageType(file)).resolves.toBe('image/avif');
    const stored = await new ImageProcessor(validateEnv({})).process(file);
    expect(stored.original).toMatchObject({ format: 'avif', width: 6, height: 4 });
  });

  it.each([
    [
      'a web page with an inline SVG icon',
      '<!DOCTYPE html><html><head><title>Shop</title></head><body><a href="/">' +
        '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><path d="M0 0h16v16z"/></svg>' +
        '</a><script>alert(1)</script></body></html>',
    ],
    [
      'an XHTML page',
      '<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><body><svg/></body></html>',
    ],
  ])('refuses %s as unsupported_image_type, not as an unsafe SVG', async (_name, page) => {
    const error = await detectImageType(write('page.jpg', Buffer.from(page))).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('unsupported_image_type');
  });

  it.each([
    [
      'with an XML declaration and a comment',
      '<?xml version="1.0"?>\n<!-- made by hand -->\n<svg xmlns="http://www.w3.org/2000/svg"/>',
    ],
    [
      'with a DOCTYPE (then refused by the sanitiser)',
      '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n<svg xmlns="http://www.w3.org/2000/svg"/>',
    ],
    [
      'whose root is namespace-prefixed',
      '<?xml version="1.0"?>\n<svg:svg xmlns:svg="http://www.w3.org/2000/svg"/>',
    ],
  ])('still takes an SVG %s as SVG', async (_name, svg) => {
    await expect(detectImageType(write('x.svg', Buffer.from(svg)))).resolves.toBe('image/svg+xml');
  });

  it('still refuses a HEIC (HEVC-coded HEIF), which no browser but Safari shows', async () => {
    const heic = Buffer.from(withMajorBrand(avif, 'heic'));
    heic.write('heic', 16, 'latin1'); // no 'avif' left among the compatible brands
    heic.write('heic', 20, 'latin1');
    const error = await detectImageType(write('x.heic', heic)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('unsupported_image_type');
  });
});
