import { renditionSize, type RenditionTransform } from './rendition-presets';

/** The scales JPEG and WebP decode at directly (shrink-on-load), smallest first. */
const DIVISORS = [8, 4, 2];

/**
 * The size to decode an upright `width`×`height` image at: the smallest of 1/8, 1/4 and 1/2 of it
 * from which every rendition is still a reduction, never an enlargement; undefined where that is
 * the full size. With no renditions to make, the decode only checks the file: 1/8 does.
 */
export function decodeSize(
  renditions: readonly RenditionTransform[],
  width: number,
  height: number,
): { width: number; height: number } | undefined {
  for (const divisor of DIVISORS) {
    const scaled = { width: Math.floor(width / divisor), height: Math.floor(height / divisor) };
    if (scaled.width < 1 || scaled.height < 1) continue;
    const fits = renditions.every((rendition) => {
      const size = renditionSize(rendition, width, height);
      return size.width <= scaled.width && size.height <= scaled.height;
    });
    if (fits) return scaled;
  }
  return undefined;
}
