import { AppError } from '../../common/errors/app.error';

/** The API errors of image processing: what a client is told when its image is refused. */

export function invalidImage(): AppError {
  return new AppError(
    'invalid_image',
    'The image could not be decoded: it is truncated or corrupt.',
    [{ field: 'image', message: 'is truncated or corrupt' }],
  );
}

/**
 * An SVG whose width or height, rounded to whole pixels as librsvg renders it, is none: under half
 * a pixel (width="0.4"), not a corrupt file.
 */
export function svgUnderOnePixel(): AppError {
  return new AppError(
    'invalid_image',
    'The SVG renders smaller than 1 pixel: its width or height comes to less than half a pixel ' +
      '(1 px is 1 user unit, at 72 dpi). Give it a width and height of at least 1.',
    [{ field: 'image', message: 'renders smaller than 1 pixel' }],
  );
}

/**
 * A JPEG whose compressed data stops, or is damaged, before its last row: the decoder would fill
 * the rest with grey (a file cut short, then closed with an end marker, decodes "whole").
 */
export function incompleteJpeg(): AppError {
  return new AppError(
    'invalid_image',
    'The image could not be decoded whole: its JPEG data is cut short or damaged, so part of ' +
      'the picture (usually its lower part) is missing.',
    [{ field: 'image', message: 'is truncated or corrupt: part of the picture is missing' }],
  );
}

export function tooManyPixels(maxPixels: number): AppError {
  return new AppError('image_too_many_pixels', `The image has more than ${maxPixels} pixels.`, [
    { field: 'image', message: `more than ${maxPixels} pixels` },
  ]);
}

/** An AVIF taller or wider than its encoder writes (its original is stored re-encoded). */
export function tooWideForAvif(maxSide: number): AppError {
  return new AppError(
    'image_too_many_pixels',
    `An AVIF image may be at most ${maxSide} pixels wide and high.`,
    [{ field: 'image', message: `AVIF wider or higher than ${maxSide} pixels` }],
  );
}

/**
 * An animation's frames are decoded pixels too: width × height × frames counts against the limit,
 * each frame as at least 64×64 (a frame's fixed cost).
 */
export function tooManyFramePixels(maxPixels: number, frames: number): AppError {
  return new AppError(
    'image_too_many_pixels',
    `The animation has more than ${maxPixels} pixels in its ${frames} frames ` +
      '(width × height × frames, each frame counting as at least 64×64).',
    [{ field: 'image', message: `more than ${maxPixels} pixels in ${frames} frames` }],
  );
}

export function typeMismatch(declared: string, detected: string): AppError {
  return new AppError(
    'image_type_mismatch',
    `The image was declared as ${declared}, but it is ${detected}.`,
    [{ field: 'image', message: `declared ${declared}, is ${detected}` }],
  );
}

export function unsupportedType(mime: string | undefined): AppError {
  return new AppError(
    'unsupported_image_type',
    'The file is not a JPEG, PNG, GIF, WebP, AVIF, BMP or SVG image.',
    [{ field: 'image', message: `unsupported type${mime ? ` (${mime})` : ''}` }],
  );
}

/** A BMP of a kind the decoder does not take (see BmpError's `unsupported`). */
export function unsupportedBmp(reason: string): AppError {
  return new AppError(
    'unsupported_image_type',
    `This BMP has ${reason}, which the service does not read: save it as an uncompressed ` +
      'Windows BMP (1, 4, 8, 16, 24 or 32 bits), or as PNG.',
    [{ field: 'image', message: `unsupported BMP (${reason})` }],
  );
}

export function unsafeSvg(message: string, reason: string): AppError {
  return new AppError('unsafe_svg', `The SVG was refused: ${message}`, [
    { field: 'image', message: `SVG refused (${reason})` },
  ]);
}

/** An SVG whose render was stopped: past SVG_RENDER_TIMEOUT_MS, or SVG_RENDER_MAX_BYTES. */
export function tooComplex(reason: 'timeout' | 'memory', limit: string): AppError {
  const what = reason === 'timeout' ? `longer than ${limit}` : `more than ${limit} of memory`;
  return new AppError('image_too_complex', `The SVG takes ${what} to render.`, [
    { field: 'image', message: `takes ${what} to render` },
  ]);
}

/** An SVG with more elements and attributes than the sanitiser parses (see MAX_SVG_MARKUP). */
export function tooMuchSvgMarkup(limit: number): AppError {
  return new AppError(
    'image_too_complex',
    `The SVG has more than ${limit} elements and attributes.`,
    [{ field: 'image', message: `more than ${limit} elements and attributes` }],
  );
}

/** An SVG drawing more elements through its `<use>` references than librsvg draws (MAX_SVG_DRAWN). */
export function tooManySvgUses(limit: number): AppError {
  return new AppError(
    'image_too_complex',
    `The SVG draws more than ${limit} elements through its <use> references.`,
    [{ field: 'image', message: `draws more than ${limit} elements through <use>` }],
  );
}

/**
 * An SVG that librsvg stopped rendering at its limit of referenced elements (MAX_SVG_DRAWN, its
 * own 500,000): through `<use>` drawn again by a pattern, a mask or a marker, which the count of
 * `<use>` before rendering does not follow.
 */
export function tooManySvgReferences(limit: number): AppError {
  return new AppError(
    'image_too_complex',
    `The SVG refers to its own elements more than ${limit} times (through <use>, patterns, ` +
      'masks, markers and the like), more than its renderer follows.',
    [{ field: 'image', message: `refers to its elements more than ${limit} times` }],
  );
}

/** An SVG whose check outgrew the sanitiser's heap (see SVG_SANITIZER_HEAP_MB). */
export function svgTooMuchMemory(heapMb: number): AppError {
  return new AppError(
    'image_too_complex',
    `The SVG takes more than ${heapMb} MiB of memory to check.`,
    [{ field: 'image', message: `takes more than ${heapMb} MiB of memory to check` }],
  );
}

/** A JPEG whose decode would take a pass per scan over more scans than any encoder makes. */
export function tooManyScans(maxScans: number): AppError {
  return new AppError(
    'image_too_complex',
    `The JPEG has more than ${maxScans} scans: each is a pass over the whole image to decode.`,
    [{ field: 'image', message: `more than ${maxScans} scans` }],
  );
}

export function serverBusy(): AppError {
  return new AppError('server_busy', 'Too many images are being processed; retry shortly.', [], {
    'Retry-After': '5',
  });
}
