/**
 * How a stored image fits a box: `cover` fills it (cropped from the centre), `attention` fills it
 * cropped around what draws the eye, `inside` fits within it without enlarging.
 */
export type ImageFit = 'cover' | 'attention' | 'inside';

/**
 * A transformation a provider that makes renditions at delivery applies to an original (see
 * `StorageProvider.url`): the box and how the image fits it. Storage's own type, so that storage
 * needs nothing of the code that decides which renditions exist (the images module's rendition
 * presets, whose `RenditionTransform` has the same shape and is passed here as it is).
 */
export interface ImageTransform {
  width: number;
  height: number;
  fit: ImageFit;
}
