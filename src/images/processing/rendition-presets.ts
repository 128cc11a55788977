export type RenditionFit = 'cover' | 'attention' | 'inside';

/** How a rendition is made from the original: the box and how the image fills it. */
export interface RenditionTransform {
  width: number;
  height: number;
  fit: RenditionFit;
}

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
export function renditionSize(
  transform: RenditionTransform,
  width: number,
  height: number,
): { width: number; height: number } {
  if (transform.fit !== 'inside') return { width: transform.width, height: transform.height };
  const scale = Math.min(1, transform.width / width, transform.height / height);
  return {
    width: Math.max(1, Math.round(width * scale)),
    height: Math.max(1, Math.round(height * scale)),
  };
}
