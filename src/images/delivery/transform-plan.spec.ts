import { parseTransformOptions } from './transform-options';
import {
  acceptedImageTypes,
  DEFAULT_WIDTH_LADDER,
  MAX_RESULT_SIDE,
  planTransform,
  UnknownPresetError,
  type OriginalFacts,
} from './transform-plan';

const PHOTO: OriginalFacts = { width: 4000, height: 3000, format: 'jpeg', hasAlpha: false };
const context = (accept?: string) => ({
  presets: [{ name: 'thumb', width: 150, height: 150, fit: 'cover' as const }],
  ladder: DEFAULT_WIDTH_LADDER,
  maxPixels: 40_000_000,
  accept,
});
const plan = (options: string, original = PHOTO, accept?: string) =>
  planTransform(parseTransformOptions(options), original, context(accept));

describe(planTransform.name, () => {
  it('rounds a width up to the ladder; the height follows the original', () => {
    expect(plan('w_300,f_webp')).toMatchObject({ width: 320, height: 240, fit: 'cover' });
    expect(plan('w_320,f_webp')).toMatchObject({ width: 320, height: 240 });
    expect(plan('w_1,f_webp')).toMatchObject({ width: 64, height: 48 });
  });

  it('rounds a height asked alone up to the ladder', () => {
    expect(plan('h_300,f_webp')).toMatchObject({ width: 427, height: 320 });
  });

  it('keeps the ratio of a box when its width snaps', () => {
    expect(plan('w_500,h_250,f_webp')).toMatchObject({ width: 512, height: 256 });
  });

  it('names one result for every quality of a format encoded without one (PNG, GIF)', () => {
    for (const format of ['png', 'gif']) {
      const named = plan(`w_300,f_${format}`).variant;
      expect(plan(`w_300,f_${format},q_1`).variant).toBe(named);
      expect(plan(`w_300,f_${format},q_55`).variant).toBe(named);
    }
    // f_auto negotiated to PNG (a PNG original, a browser without AVIF and WebP) too.
    const png: OriginalFacts = { ...PHOTO, format: 'png', hasAlpha: true };
    expect(plan('w_300,q_40', png, '*/*').variant).toBe(plan('w_300,f_png', png).variant);
    // The lossy formats' quality is what they are made with: one result per quality.
    for (const format of ['jpeg', 'webp', 'avif']) {
      expect(plan(`w_300,f_${format},q_40`).variant).not.toBe(plan(`w_300,f_${format}`).variant);
    }
  });

  it('multiplies by the pixel ratio before snapping', () => {
    expect(plan('w_300,dpr_2,f_webp')).toMatchObject({ width: 640, height: 480 });
  });

  it('never makes more pixels than the original has', () => {
    const small: OriginalFacts = { ...PHOTO, width: 800, height: 600 };
    expect(plan('w_3000,f_webp', small)).toMatchObject({ width: 800, height: 600 });
    expect(plan('w_1000,h_1000,f_webp', small)).toMatchObject({ width: 600, height: 600 });
    expect(plan('f_webp', small)).toMatchObject({ width: 800, height: 600 });
  });

  it('fits inside a box without enlarging', () => {
    expect(plan('w_640,h_640,c_inside,f_webp')).toMatchObject({ width: 640, height: 480 });
  });

  it('fits inside a box larger than the original on one side by the other side alone', () => {
    const landscape: OriginalFacts = { ...PHOTO, width: 1600, height: 1200 };
    expect(plan('w_1600,h_1600,c_inside,f_webp', landscape)).toMatchObject({
      width: 1600,
      height: 1200,
    });
    expect(plan('w_1280,h_1280,c_inside,f_webp', landscape)).toMatchObject({
      width: 1280,
      height: 960,
    });
    expect(plan('w_64,h_3840,c_inside,f_webp', landscape)).toMatchObject({ width: 64, height: 48 });
    expect(plan('w_4000,h_4000,c_inside,f_webp', landscape)).toMatchObject({
      width: 1600,
      height: 1200,
    });
  });

  it('pads contain to the box without shrinking the image: at most its own size, in a box no side longer than its longest', () => {
    const photo: OriginalFacts = { ...PHOTO, width: 800, height: 600 };
    // The photo at 800×600 in the 800×800 box asked for, not 600×450 in 600×600.
    expect(plan('w_800,h_800,c_contain,f_png', photo)).toMatchObject({ width: 800, height: 800 });
    expect(plan('w_1600,h_1600,c_contain,f_png', photo)).toMatchObject({
      width: 800,
      height: 800,
    });
    expect(plan('w_256,h_256,c_contain,f_png', photo)).toMatchObject({ width: 256, height: 256 });
    // A small image keeps its size: 37×23 in a 37×37 box, not 23×15 in 23×23.
    const tiny: OriginalFacts = { ...PHOTO, width: 37, height: 23 };
    expect(plan('w_500,h_500,c_contain,f_png', tiny)).toMatchObject({ width: 37, height: 37 });
    // A strip 1 px wide: its 4000 px in a square, not one pixel.
    const strip: OriginalFacts = { ...PHOTO, width: 1, height: 4000 };
    expect(plan('w_500,h_500,c_contain,f_png', strip)).toMatchObject({ width: 512, height: 512 });
    // However long the box asked for, no side is longer than the original's longest.
    expect(plan('w_64,h_16384,c_contain,f_png', photo)).toMatchObject({ width: 3, height: 800 });
    // Cover still fills the box from the image alone: the box shrinks until it fits in it.
    expect(plan('w_800,h_800,c_cover,f_png', photo)).toMatchObject({ width: 600, height: 600 });
  });

  it('scales a contain box down, its ratio kept, to at most MAX_IMAGE_PIXELS', () => {
    // A 12000×1500 panorama (18 MP) in 3840×12000: 46 MP of mostly padding.
    const panorama: OriginalFacts = { ...PHOTO, width: 12000, height: 1500 };
    const big = plan('w_3840,h_12000,c_contain,f_png', panorama);
    expect(big.width * big.height).toBeLessThanOrEqual(40_000_000);
    expect(big).toMatchObject({ width: 3577, height: 11180 });
    // Under a lower limit, a banner of 1 MP in a 3840×3840 box: a square of at most 4 MP.
    const banner: OriginalFacts = { ...PHOTO, width: 4000, height: 250 };
    const limited = planTransform(parseTransformOptions('w_3840,h_3840,c_contain,f_png'), banner, {
      ...context(),
      maxPixels: 4_000_000,
    });
    expect(limited).toMatchObject({ width: 2000, height: 2000 });
    // Rounded down where rounding up would pass the limit: 3×3 in 8 pixels is 2×2.
    const small = planTransform(parseTransformOptions('w_64,h_64,c_contain,f_png'), banner, {
      ...context(),
      maxPixels: 8,
    });
    expect(small).toMatchObject({ width: 2, height: 2 });
  });

  it("scales a result longer than 16383 on a side (WebP's limit) down to it, ratio kept", () => {
    // A 1000×20000 product-detail strip and a 20000×1000 panorama, both within the pixel limit.
    const strip: OriginalFacts = { ...PHOTO, width: 1000, height: 20000 };
    const panorama: OriginalFacts = { ...PHOTO, width: 20000, height: 1000 };
    for (const fit of ['', ',c_inside', ',c_contain', ',c_attention']) {
      expect(plan(`f_webp${fit}`, strip)).toMatchObject({ width: 819, height: MAX_RESULT_SIDE });
      expect(plan(`w_1000,f_jpeg${fit}`, strip)).toMatchObject({ height: MAX_RESULT_SIDE });
      expect(plan(`h_1000,f_avif${fit}`, panorama)).toMatchObject({ width: MAX_RESULT_SIDE });
    }
    // Nothing changes within the limit.
    expect(plan('w_800,f_webp', strip)).toMatchObject({ width: 800, height: 16000 });
    // A box of the image's own shape is scaled whole (inside): a 1×20000 strip cannot keep its
    // ratio in whole pixels, and cover would crop its ends. A box asked for is cropped to, as
    // ever.
    const thread: OriginalFacts = { ...PHOTO, width: 1, height: 20000 };
    expect(plan('f_png', thread)).toMatchObject({ width: 1, height: 16383, fit: 'inside' });
    expect(plan('f_png', strip)).toMatchObject({ fit: 'inside', variant: '819x16383-inside-q100' });
    expect(plan('w_40,h_16384,f_png', strip)).toMatchObject({
      width: 40,
      height: 16383,
      fit: 'cover',
    });
  });

  it('names the limit in a result that depends on it: an animation padded into a larger box', () => {
    const gif: OriginalFacts = { ...PHOTO, width: 400, height: 20, format: 'gif' };
    const under = (maxPixels: number, options: string, original = gif) =>
      planTransform(parseTransformOptions(options), original, { ...context(), maxPixels }).variant;
    // 40,000,000 is "ntc74" in base 36: a raised limit makes the animation again.
    expect(under(40_000_000, 'w_400,h_400,c_contain,f_webp')).toBe('400x400-contain-q80-pntc74');
    expect(under(1_000_000, 'w_400,h_400,c_contain,f_webp')).toBe('400x400-contain-q80-plfls');
    // Not where the limit changes nothing: a still format, a box within the image, a JPEG.
    expect(under(1_000_000, 'w_400,h_400,c_contain,f_png')).toBe('400x400-contain-q100');
    expect(under(1_000_000, 'w_400,f_webp')).toBe('400x20-cover-q80');
    expect(under(1_000_000, 'w_400,h_400,c_contain,f_webp', { ...gif, format: 'jpeg' })).toBe(
      '400x400-contain-q80',
    );
    // The longest variant still fits the 32 characters of a key's.
    const strip: OriginalFacts = { ...gif, width: 1, height: 1_000_000_000 };
    const longest = under(1_000_000_000, 'w_8192,h_16384,c_contain,f_webp,q_100,dpr_4', strip);
    expect(longest.length).toBeLessThanOrEqual(32);
  });

  it('makes a preset at its configured size, not the ladder', () => {
    expect(plan('p_thumb,f_webp')).toMatchObject({ width: 150, height: 150, fit: 'cover' });
    expect(plan('p_thumb,dpr_2,f_webp')).toMatchObject({ width: 300, height: 300 });
    expect(() => plan('p_poster')).toThrow(UnknownPresetError);
  });

  it('negotiates auto: AVIF, else WebP, else the original format', () => {
    expect(plan('w_64', PHOTO, 'image/avif,image/webp,*/*')).toMatchObject({
      format: 'avif',
      negotiated: true,
    });
    expect(plan('w_64', PHOTO, 'image/webp,*/*')).toMatchObject({ format: 'webp' });
    expect(plan('w_64', PHOTO, '*/*')).toMatchObject({ format: 'jpeg', negotiated: true });
    expect(plan('w_64', PHOTO, 'image/avif;q=0,image/webp')).toMatchObject({ format: 'webp' });
    const png = { ...PHOTO, format: 'png' };
    expect(plan('w_64', png, undefined)).toMatchObject({ format: 'png' });
    const svg = { ...PHOTO, format: 'svg', hasAlpha: true };
    expect(plan('w_64', svg, 'image/*')).toMatchObject({ format: 'png' });
    expect(plan('w_64', { ...PHOTO, format: 'avif' }, '*/*')).toMatchObject({ format: 'jpeg' });
    // A GIF or WebP may move: WebP first, which keeps the frames.
    for (const format of ['gif', 'webp']) {
      const animatable = { ...PHOTO, format };
      expect(plan('w_64', animatable, 'image/avif,image/webp')).toMatchObject({ format: 'webp' });
      expect(plan('w_64', animatable, 'image/avif')).toMatchObject({ format: 'avif' });
    }
  });

  it('falls back past an original format the client refuses, to one it names', () => {
    expect(plan('w_64', PHOTO, 'image/png, image/jpeg;q=0')).toMatchObject({ format: 'png' });
    expect(plan('w_64', PHOTO, 'image/gif, image/jpeg;q=0')).toMatchObject({ format: 'gif' });
    // Refused, with nothing else named: still the original's format (nothing better to give).
    expect(plan('w_64', PHOTO, 'image/jpeg;q=0, */*')).toMatchObject({ format: 'jpeg' });
    const svg = { ...PHOTO, format: 'svg', hasAlpha: true };
    expect(plan('w_64', svg, 'image/png;q=0, image/jpeg')).toMatchObject({ format: 'jpeg' });
    // Whitespace before the `;` (RFC 9110 5.6.6: OWS ";" OWS) is the same refusal.
    expect(plan('w_64', PHOTO, 'image/jpeg ;q=0, image/png')).toMatchObject({ format: 'png' });
    expect(plan('w_64', PHOTO, 'image/jpeg\t;\tq=0, image/png')).toMatchObject({ format: 'png' });
  });

  it('names a result by everything that makes it, with the default quality per format', () => {
    expect(plan('w_300,f_webp').variant).toBe('320x240-cover-q80');
    expect(plan('w_300,f_jpeg,q_60').variant).toBe('320x240-cover-q60');
    expect(plan('w_300,h_300,c_attention,f_avif').variant).toBe('320x320-attention-q50');
  });
});

describe(acceptedImageTypes.name, () => {
  it('reads the image types with a non-zero quality, ignoring wildcards', () => {
    expect([...acceptedImageTypes('image/avif, image/webp;q=0.9, image/*, */*;q=0.8')]).toEqual([
      'image/avif',
      'image/webp',
    ]);
    expect([...acceptedImageTypes('IMAGE/WEBP;Q=0')]).toEqual([]);
    expect([...acceptedImageTypes(undefined)]).toEqual([]);
  });

  it('reads elements with whitespace around their `;` and `=`, and any spelling of a zero weight', () => {
    // RFC 9110 5.6.6, 12.4.2: `parameters = *( OWS ";" OWS [ parameter ] )`, names case-insensitive,
    // `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ...`; a space around `=` (not in the grammar) read alike.
    expect([...acceptedImageTypes('image/webp ;q=0.9, image/avif\t;\tq=1')]).toEqual([
      'image/webp',
      'image/avif',
    ]);
    for (const refusal of [
      'image/webp ;q=0',
      'image/webp\t; q=0',
      'image/webp ; Q=0',
      'image/webp;q=0.000',
      'image/webp ;q = 0',
      ' image/webp ; foo=bar ; q=0.0 ',
    ]) {
      expect({ refusal, accepted: [...acceptedImageTypes(`${refusal}, image/webp`)] }).toEqual({
        refusal,
        accepted: [],
      });
    }
  });

  it('takes a refusal over an acceptance of the same type', () => {
    expect([...acceptedImageTypes('image/avif, image/webp, image/avif;q=0')]).toEqual([
      'image/webp',
    ]);
  });

  it('reads only whole elements of a header longer than 1,000 characters', () => {
    // The cut at 1,000 falls inside the last element: its `;q=0` would be lost.
    for (const type of ['image/avif', 'image/webp']) {
      const accept = `${'xy/z,'.repeat(198)}${type};q=0`;
      expect(accept.length).toBeGreaterThan(1000);
      expect(acceptedImageTypes(accept).has(type)).toBe(false);
    }
    expect(acceptedImageTypes(`${'xy/z,'.repeat(150)}image/webp`).has('image/webp')).toBe(true);
  });

  it('reads a quoted parameter whole, its commas and semicolons included', () => {
    // RFC 9110 5.6.4, 5.6.6: a parameter's value may be a quoted-string, where `,` and `;` are
    // text, not the end of an element or a parameter.
    expect([...acceptedImageTypes('image/webp;foo="a,b", image/avif')]).toEqual([
      'image/webp',
      'image/avif',
    ]);
    expect([...acceptedImageTypes('image/avif;foo="a,b";q=0, image/webp')]).toEqual(['image/webp']);
    expect([
      ...acceptedImageTypes('image/avif;foo="x;q=0", image/webp;foo="\\",image/png"'),
    ]).toEqual(['image/avif', 'image/webp']);
    // Of a long header, a comma inside quotes is no element's end.
    const accept = `image/webp, image/avif;foo="${'a,'.repeat(600)}";q=0`;
    expect([...acceptedImageTypes(accept)]).toEqual(['image/webp']);
  });
});
