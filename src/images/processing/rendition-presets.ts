import { transformedSize, type ImageFit, type ImageTransform } from '../../storage/image-transform';

/** How a rendition fits its box: storage's {@link ImageFit}, which the stored records carry. */
export type RenditionFit = ImageFit;

/** How a rendition is made from the original: the box and how the image fills it. */
export type RenditionTransform = ImageTransform;

export interface RenditionPreset extends RenditionTransform {
  name: string;
}

/** `thumb:150x150:cover,card:500x500:attention` → presets (the format is validated at start-up). */
export function parseRenditionPresets(spec: string): RenditionPreset[] {
  return spec.split(',').map((entry) => {
    const [name, size, fit] = entry.trim().split(':');
    const [width, height] = size.split('x').map(Number);
    return { name, width, height, fit: fit as RenditionFit };
  });
}

/**
 * The size of a rendition of a `width`×`height` original: cover and attention fill the box
 * exactly (cropping); inside fits the image in the box, keeping its ratio, never enlarging.
 */
export const renditionSize: (
  transform: RenditionTransform,
  width: number,
  height: number,
) => { width: number; height: number } = transformedSize;
