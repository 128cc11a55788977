/**
 * How a stored image fits a box: `cover` fills it (cropped from the centre), `attention` fills it
 * cropped around what draws the eye, `inside` fits within it without enlarging.
 */
export type ImageFit = 'cover' | 'attention' | 'inside';

/**
 * A transformation of an image: the box and how the image fits it. What a rendition is made with
 * (the images module's rendition presets use this type), what storage that derives renditions at
 * delivery applies to the original (see image-storage.ts), and how bytes already cropped are
 * described to storage. Storage's own type, so that storage needs nothing of the code that decides
 * which renditions exist.
 */
export interface ImageTransform {
  width: number;
  height: number;
  fit: ImageFit;
}

/**
 * The size of the image `transform` makes of a `width`×`height` original: cover and attention
 * fill the box exactly (cropping); inside fits the image in the box, keeping its ratio, never
 * enlarging.
 */
export function transformedSize(
  transform: ImageTransform,
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

/**
 * A result made on request (a transform URL): its final box (in device pixels, never beyond the
 * original), how the image fits it, its format and the encoder's quality. `contain` fits the whole
 * image and pads it to the box.
 */
export interface DeliveryTransform {
  width: number;
  height: number;
  fit: ImageFit | 'contain';
  /** `auto`: the storage picks the format per browser (where it makes results itself). */
  format: 'auto' | 'avif' | 'webp' | 'jpeg' | 'png' | 'gif';
  /** `auto`: the storage picks it with the format (where it makes results itself). */
  quality: number | 'auto';
}
