import {
  isUnsignedAllowed,
  parseTransformOptions,
  TransformOptionsError,
} from './transform-options';

describe(parseTransformOptions.name, () => {
  it('reads every option, in any order, with defaults for the rest', () => {
    expect(parseTransformOptions('w_640,h_480,c_contain,f_webp,q_70,dpr_1.5')).toEqual({
      width: 640,
      height: 480,
      fit: 'contain',
      format: 'webp',
      quality: 70,
      dpr: 1.5,
    });
    expect(parseTransformOptions('h_100')).toEqual({ height: 100, format: 'auto', dpr: 1 });
    expect(parseTransformOptions('f_avif,p_card')).toEqual({
      preset: 'card',
      format: 'avif',
      dpr: 1,
    });
  });

  it('reads a preset whose name has the `_` or `-` that IMAGE_RENDITIONS allows in names', () => {
    expect(parseTransformOptions('p_hero_wide')).toEqual({
      preset: 'hero_wide',
      format: 'auto',
      dpr: 1,
    });
    expect(parseTransformOptions('p_product-card,f_webp')).toEqual({
      preset: 'product-card',
      format: 'webp',
      dpr: 1,
    });
    expect(
      isUnsignedAllowed('p_hero_wide,f_webp', parseTransformOptions('p_hero_wide,f_webp')),
    ).toBe(true);
  });

  it.each([
    ['', 'characters'],
    ['w_0', 'whole number'],
    ['w_16385', 'whole number'],
    ['w_99999999999999999999', 'whole number'],
    ['w_1.5', 'whole number'],
    ['w_01', 'whole number'],
    ['q_0', 'from 1 to 100'],
    ['q_101', 'from 1 to 100'],
    ['dpr_0.5', 'ratio from 1 to 4'],
    ['dpr_4.5', 'ratio from 1 to 4'],
    ['c_fill', 'c must be one of'],
    ['f_tiff', 'f must be one of'],
    ['w_1,w_2', 'given twice'],
    ['w_1-2', 'whole number'],
    ['f_web_p', 'f must be one of'],
    ['dpr_1_5', 'ratio from 1 to 4'],
    ['p__card', 'p must name a preset'],
    ['x_1', 'Unknown option x'],
    ['w_1,', 'not a key_value'],
    ['w_1\u0000', 'not a key_value'],
    ['W_100', 'not a key_value'],
    ['p_card,w_100', 'preset'],
    ['a'.repeat(201), 'characters'],
  ])('refuses %j (%s)', (segment, message) => {
    expect(() => parseTransformOptions(segment)).toThrow(TransformOptionsError);
    expect(() => parseTransformOptions(segment)).toThrow(message);
  });

  it('quotes a bad token printably and briefly', () => {
    expect(() => parseTransformOptions(`\u0001${'z'.repeat(100)}`)).toThrow(
      /^"\?z{39}" is not a key_value option\.$/,
    );
  });
});

describe(isUnsignedAllowed.name, () => {
  it('allows a preset by name, with a format at most', () => {
    for (const segment of ['p_thumb', 'p_thumb,f_webp', 'f_auto,p_card']) {
      expect(isUnsignedAllowed(segment, parseTransformOptions(segment))).toBe(true);
    }
    for (const segment of ['w_100', 'p_thumb,dpr_2', 'p_thumb,q_100', 'f_webp']) {
      expect(isUnsignedAllowed(segment, parseTransformOptions(segment))).toBe(false);
    }
  });
});
