import { stripJpegMetadata } from './jpeg-metadata';
import { stripPngMetadata } from './png-metadata';
import { stripWebpMetadata } from './webp-metadata';

/**
 * The upload `bytes` of `format` with its metadata removed losslessly (see each format's file),
 * keeping the ICC profile and an orientation 2-8 as the only EXIF field; undefined where the
 * format has no lossless rewriter here, or this file needs a pixel change to be stored.
 */
export function stripMetadata(
  format: string,
  bytes: Buffer,
  orientation: number,
): Buffer | undefined {
  switch (format) {
    case 'jpeg':
      return stripJpegMetadata(bytes, orientation);
    case 'png':
      return stripPngMetadata(bytes, orientation);
    case 'webp':
      return stripWebpMetadata(bytes, orientation);
    default:
      return undefined;
  }
}
