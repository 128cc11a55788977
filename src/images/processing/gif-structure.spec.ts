import sharp from 'sharp';
import { animation, gif } from '../../../test/support/fixtures';
import { gifTruncated } from './gif-structure';

describe(gifTruncated.name, () => {
  it('takes a whole GIF, still or animated, for whole', async () => {
    expect(gifTruncated(await gif())).toBe(false);
    expect(gifTruncated(await animation('gif', 40, 30, 4))).toBe(false);
  });

  it('takes a GIF that ends between blocks without its trailer for whole', async () => {
    const whole = await animation('gif', 40, 30, 4);
    expect(whole.at(-1)).toBe(0x3b);
    expect(gifTruncated(whole.subarray(0, whole.length - 1))).toBe(false);
  });

  it('finds a GIF cut anywhere inside its blocks', async () => {
    const whole = await animation('gif', 40, 30, 4);
    for (const share of [0.05, 0.3, 0.5, 0.7, 0.9, 0.99]) {
      const cut = whole.subarray(0, Math.floor(whole.length * share));
      expect({ share, truncated: gifTruncated(cut) }).toEqual({ share, truncated: true });
    }
    // libvips decodes what is there and says nothing: the reason for the walk.
    const half = whole.subarray(0, Math.floor(whole.length / 2));
    const pages = (await sharp(half, { animated: true }).metadata()).pages;
    expect(pages).toBeGreaterThan(0);
  });

  it('leaves a block it does not know, or bytes after the trailer, to the decoder', async () => {
    const whole = await gif();
    expect(gifTruncated(Buffer.concat([whole, Buffer.from('trailing bytes')]))).toBe(false);
    const unknown = Buffer.from(whole);
    unknown[unknown.length - 1] = 0x99;
    expect(gifTruncated(unknown)).toBe(false);
    expect(gifTruncated(Buffer.from('GIF89a'))).toBe(true);
  });
});
