import { parseRenditionPresets } from '../../images/processing/rendition-presets';
import { inventorumUrlNames } from './inventorum-urls';

describe(inventorumUrlNames.name, () => {
  const names = (spec: string) => inventorumUrlNames(parseRenditionPresets(spec));

  it("answers each of Inventorum's keys with the configured rendition nearest its purpose", () => {
    expect(names('thumb:150x150:cover,card:500x500:attention,large:1200x1200:inside')).toEqual({
      image: 'large',
      thumb: 'thumb',
      thumb_retina: 'card',
      ipad: 'large',
      ipad_retina: undefined,
      ebay: 'large',
    });
  });

  it('takes the sizes, not the order, and the first of equal boxes', () => {
    expect(names('big:2000x2000:inside,small:100x100:cover,twin:2000x2000:cover')).toMatchObject({
      thumb: 'small',
      thumb_retina: 'big',
      ipad: 'big',
    });
  });

  it('answers thumb_retina with the largest when none is twice the smallest, and one rendition for all', () => {
    expect(names('a:100x100:cover,b:150x150:cover')).toMatchObject({
      thumb: 'a',
      thumb_retina: 'b',
    });
    expect(names('only:800x600:inside')).toEqual({
      image: 'only',
      thumb: 'only',
      thumb_retina: 'only',
      ipad: 'only',
      ipad_retina: undefined,
      ebay: 'only',
    });
  });
});
