import { parseRenditionPresets } from '../processing/rendition-presets';
import { madeWith, renditionSetOf } from './rendition-set';

const presets = parseRenditionPresets('thumb:150x150:cover,large:1200x1200:inside');

describe(renditionSetOf.name, () => {
  it('names each preset in the format IMAGE_RENDITIONS takes, sorted by name', () => {
    expect(renditionSetOf(presets)).toBe('large:1200x1200:inside,thumb:150x150:cover');
    expect(parseRenditionPresets(renditionSetOf(presets))).toEqual(expect.arrayContaining(presets));
  });

  it('is the same whatever the order, and differs with any name, box or fit', () => {
    const same = parseRenditionPresets('large:1200x1200:inside,thumb:150x150:cover');
    expect(renditionSetOf(same)).toBe(renditionSetOf(presets));
    for (const other of [
      'thumb:150x150:cover,big:1200x1200:inside',
      'thumb:100x150:cover,large:1200x1200:inside',
      'thumb:150x150:attention,large:1200x1200:inside',
      'thumb:150x150:cover',
    ]) {
      expect(renditionSetOf(parseRenditionPresets(other))).not.toBe(renditionSetOf(presets));
    }
  });
});

describe(madeWith.name, () => {
  const rendition = (width: number, height: number) => ({
    key: `k/${width}x${height}.webp`,
    width,
    height,
    format: 'webp',
    size: 10,
  });
  const image = (renditions: Record<string, ReturnType<typeof rendition>>) => ({
    width: 2000,
    height: 1000,
    renditions,
  });

  it('holds when every preset has a rendition of the size it makes of the original', () => {
    expect(
      madeWith(presets, image({ thumb: rendition(150, 150), large: rendition(1200, 600) })),
    ).toBe(true);
    // An encoder rounding an `inside` fit the other way.
    expect(
      madeWith(presets, image({ thumb: rendition(150, 150), large: rendition(1200, 601) })),
    ).toBe(true);
  });

  it('fails for a missing, extra or differently sized rendition', () => {
    expect(madeWith(presets, image({ thumb: rendition(150, 150) }))).toBe(false);
    expect(
      madeWith(
        presets,
        image({ thumb: rendition(150, 150), large: rendition(1200, 600), card: rendition(5, 5) }),
      ),
    ).toBe(false);
    expect(
      madeWith(presets, image({ thumb: rendition(100, 100), large: rendition(1200, 600) })),
    ).toBe(false);
    expect(
      madeWith(presets, image({ thumb: rendition(150, 150), large: rendition(1000, 500) })),
    ).toBe(false);
  });

  it('tells fits apart where storage records the transformation', () => {
    const derived = (fit: 'cover' | 'attention') => ({
      ...rendition(150, 150),
      transform: { width: 150, height: 150, fit },
    });
    const large = { ...rendition(1200, 600) };
    expect(madeWith(presets, image({ thumb: derived('cover'), large }))).toBe(true);
    expect(madeWith(presets, image({ thumb: derived('attention'), large }))).toBe(false);
  });
});
