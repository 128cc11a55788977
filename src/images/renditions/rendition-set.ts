import type { StoredRendition } from '../entities/image.entity';
import { renditionSize, type RenditionPreset } from '../processing/rendition-presets';

/**
 * The signature of a set of rendition presets, as an image's row records it (`rendition_set`):
 * each preset as `name:WIDTHxHEIGHT:fit`, sorted by name, comma-separated. The same presets give
 * the same signature whatever their order in IMAGE_RENDITIONS, and any change of a name, a box or
 * a fit gives another, so comparing an image's signature with the configured one says whether its
 * renditions must be made again.
 */
export function renditionSetOf(presets: readonly RenditionPreset[]): string {
  return presets
    .map(({ name, width, height, fit }) => `${name}:${width}x${height}:${fit}`)
    .sort()
    .join(',');
}

/**
 * Whether an image stored before signatures were recorded has exactly the renditions `presets`
 * give: the same names, each of the size its preset makes of the original (an `inside` rendition
 * may be off by a pixel, as the encoder rounds). What the records cannot tell is `cover` from
 * `attention` (the same box, another crop): such a change made at the same time as the upgrade
 * that introduced signatures goes unnoticed.
 */
export function madeWith(
  presets: readonly RenditionPreset[],
  image: { width: number; height: number; renditions: Record<string, StoredRendition> },
): boolean {
  const names = Object.keys(image.renditions);
  if (names.length !== presets.length) return false;
  return presets.every((preset) => {
    const record = image.renditions[preset.name];
    if (!record) return false;
    // Where storage derives renditions, the record names its transformation: the fit too.
    if (record.transform && record.transform.fit !== preset.fit) return false;
    const expected = renditionSize(preset, image.width, image.height);
    const slack = preset.fit === 'inside' ? 1 : 0;
    return (
      Math.abs(record.width - expected.width) <= slack &&
      Math.abs(record.height - expected.height) <= slack
    );
  });
}
