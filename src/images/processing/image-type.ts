import { open } from 'node:fs/promises';
import { fileTypeFromFile } from 'file-type';
import { unsupportedType } from './image-problems';
import { svgEncoding } from './svg-sanitizer';

/** How an image is stored: its format, MIME type and file extension. */
export interface StoredType {
  /** jpeg, png, gif, webp, avif or svg. */
  format: string;
  mimeType: string;
  extension: string;
}

const RASTER: Record<string, StoredType> = {
  'image/jpeg': { format: 'jpeg', mimeType: 'image/jpeg', extension: 'jpg' },
  'image/png': { format: 'png', mimeType: 'image/png', extension: 'png' },
  'image/gif': { format: 'gif', mimeType: 'image/gif', extension: 'gif' },
  'image/webp': { format: 'webp', mimeType: 'image/webp', extension: 'webp' },
  'image/avif': { format: 'avif', mimeType: 'image/avif', extension: 'avif' },
  // BMP is accepted and stored as PNG.
  'image/bmp': { format: 'png', mimeType: 'image/png', extension: 'png' },
};

export const SVG_TYPE = 'image/svg+xml';
export const BMP_TYPE = 'image/bmp';
const APNG_TYPE = 'image/apng';
/** What file-type names a file whose major brand is HEIF's own (mif1): an AVIF, perhaps. */
const HEIF_TYPE = 'image/heif';
const SVG: StoredType = { format: 'svg', mimeType: SVG_TYPE, extension: 'svg' };
/** Every rendition is WebP. */
export const RENDITION_TYPE: StoredType = {
  format: 'webp',
  mimeType: 'image/webp',
  extension: 'webp',
};

/**
 * How the original of an image of `detected` type is stored: a raster in its own format (BMP as
 * PNG); an SVG as SVG when it is kept as sanitised, else rasterised to PNG.
 */
export function storedTypeOf(detected: string, keptAsSvg: boolean): StoredType {
  if (keptAsSvg) return SVG;
  return detected === SVG_TYPE ? RASTER['image/png'] : RASTER[detected];
}

/**
 * The type from the bytes: file-type's signatures (and the AVIF brand among a HEIF file's
 * compatible ones), and SVG recognised as XML with an svg root.
 * One of the accepted types (image/jpeg, image/png, image/gif, image/webp, image/avif, image/bmp,
 * image/svg+xml), else 400 unsupported_image_type.
 */
export async function detectImageType(path: string): Promise<string> {
  const type = await fileTypeFromFile(path);
  // file-type names a PNG with an animation chunk (acTL) APNG: it is a PNG, kept as its still
  // image (png-metadata.ts drops the animation chunks), which every decoder shows.
  if (type?.mime === APNG_TYPE) return 'image/png';
  if (type && RASTER[type.mime]) return type.mime;
  // file-type reads the major brand alone: an AVIF whose major brand is HEIF's (mif1), as the
  // AVIF specification allows, 'avif' among its compatible brands, is an AVIF all the same.
  if (type?.mime === HEIF_TYPE && (await compatibleBrands(path)).includes('avif')) {
    return 'image/avif';
  }
  if (!type || type.mime === 'application/xml') {
    if (await looksLikeSvg(path)) return SVG_TYPE;
  }
  throw unsupportedType(type?.mime);
}

async function looksLikeSvg(path: string): Promise<boolean> {
  return svgHead(await headOf(path));
}

/** The file's first SNIFFED_BYTES (fewer if it is shorter). */
async function headOf(path: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(SNIFFED_BYTES);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * The compatible brands of an ISO media file's leading ftyp box: its size, 'ftyp', the major
 * brand and the minor version, then four-character brands to the end of the box.
 */
async function compatibleBrands(path: string): Promise<string[]> {
  const head = await headOf(path);
  if (head.length < 16 || head.toString('latin1', 4, 8) !== 'ftyp') return [];
  const end = Math.min(head.readUInt32BE(0), head.length);
  const brands: string[] = [];
  for (let at = 16; at + 4 <= end; at += 4) brands.push(head.toString('latin1', at, at + 4));
  return brands;
}

const SNIFFED_BYTES = 4096;

/**
 * What may come before the root element: an XML declaration or processing instruction, a comment,
 * a DOCTYPE (its internal subset included), each after optional whitespace.
 */
const PROLOG_ITEM = /^\s*(?:<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!DOCTYPE[^>[]*(?:\[[\s\S]*?\]\s*)?>)/i;

/** A root element named svg, with a namespace prefix or without (`<svg:svg xmlns:svg="...">`). */
const SVG_ROOT = /^\s*<(?:[A-Za-z_][\w.-]*:)?svg[\s>/]/i;

/**
 * Markup whose root element, near the top, is <svg> (or <prefix:svg>); the sanitiser then decides whether it is
 * safe. A page whose root is another element (a web page saved as .jpg, with an inline SVG
 * icon) is no SVG: it is refused as an unsupported type, not as an unsafe SVG.
 */
function svgHead(head: Buffer): boolean {
  // Read as the sanitiser will read it (UTF-16 with its byte order mark, say); not fatally: the
  // head may end inside a character.
  let text = new TextDecoder(svgEncoding(head)).decode(head.subarray(0, SNIFFED_BYTES));
  for (let item = PROLOG_ITEM.exec(text); item; item = PROLOG_ITEM.exec(text)) {
    text = text.slice(item[0].length);
  }
  return SVG_ROOT.test(text);
}

/**
 * Whether an image already checked (a stored original) is an SVG: its first bytes are markup,
 * which no raster format's are.
 */
export async function isSvg(source: { path: string } | { buffer: Buffer }): Promise<boolean> {
  return 'path' in source ? looksLikeSvg(source.path) : svgHead(source.buffer);
}
