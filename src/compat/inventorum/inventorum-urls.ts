import type { RenditionPreset } from '../../images/processing/rendition-presets';

/**
 * Inventorum's fixed rendition keys in `urls` (its document's answer), which its clients read
 * whatever renditions this service is configured with.
 */
export const INVENTORUM_URL_KEYS = [
  'thumb',
  'thumb_retina',
  'ipad',
  'ipad_retina',
  'ebay',
] as const;

/** For each key of `urls` but `original`: the configured rendition that answers it, or none (the original). */
export type InventorumUrlNames = Record<
  'image' | (typeof INVENTORUM_URL_KEYS)[number],
  string | undefined
>;

/**
 * Which configured rendition answers each of Inventorum's keys, by size: `thumb` the smallest
 * box, `thumb_retina` the smallest at least twice its width and height (else the largest),
 * `ipad`, `image` (the document's `image` is its `ipad`) and `ebay` the largest, `ipad_retina` the
 * original (twice the largest display size: only the original is sure to be as large). A
 * rendition configured under one of these names answers it itself (see InventorumImageDto).
 */
export function inventorumUrlNames(presets: readonly RenditionPreset[]): InventorumUrlNames {
  const area = (p: RenditionPreset) => p.width * p.height;
  // Stable: of equal boxes, the first configured.
  const bySize = presets
    .map((p, i) => ({ p, i }))
    .sort((a, b) => area(a.p) - area(b.p) || a.i - b.i);
  const smallest = bySize[0]?.p;
  const largest = bySize.reduce<RenditionPreset | undefined>(
    (found, { p }) => (found && area(found) >= area(p) ? found : p),
    undefined,
  );
  const retinaThumb = bySize.find(
    ({ p }) => smallest && p.width >= 2 * smallest.width && p.height >= 2 * smallest.height,
  )?.p;
  return {
    image: largest?.name,
    thumb: smallest?.name,
    thumb_retina: (retinaThumb ?? largest)?.name,
    ipad: largest?.name,
    ipad_retina: undefined,
    ebay: largest?.name,
  };
}
