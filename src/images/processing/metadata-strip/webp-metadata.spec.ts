import sharp from 'sharp';
import { manyFrameWebp } from '../../../../test/support/fixtures';
import { webpAnimation } from './webp-metadata';

/** A pixel of one colour, as PNG. */
const pixel = (background: string, size = 1) =>
  sharp({ create: { width: size, height: size, channels: 3, background } })
    .png()
    .toBuffer();

describe(webpAnimation.name, () => {
  it('counts the frames of an animation and reads its canvas', async () => {
    const made = await sharp(
      [await pixel('#f00', 30), await pixel('#0f0', 30), await pixel('#00f', 30)],
      {
        join: { animated: true },
      },
    )
      .webp()
      .toBuffer();
    expect(webpAnimation(made)).toEqual({ width: 30, height: 30, frames: 3 });
    // As libvips counts them.
    expect((await sharp(made).metadata()).pages).toBe(3);
  });

  it('counts 300,000 frames from their chunks alone', async () => {
    expect(webpAnimation(await manyFrameWebp(300_000))).toEqual({
      width: 1,
      height: 1,
      frames: 300_000,
    });
  });

  it('is undefined for a still WebP, another type, or bytes that are no WebP', async () => {
    const still = await sharp(await pixel('#f00', 8))
      .webp()
      .toBuffer();
    const extended = await sharp(await pixel('#f00', 8))
      .webp()
      .withIccProfile('srgb')
      .toBuffer();
    expect(extended.toString('latin1', 12, 16)).toBe('VP8X');
    for (const bytes of [
      still,
      extended,
      await pixel('#f00'),
      Buffer.alloc(0),
      Buffer.from('RIFF\0\0\0\0WEBPVP8X'),
    ]) {
      expect(webpAnimation(bytes)).toBeUndefined();
    }
  });

  it('counts a cut or oversized last chunk as far as the file goes', async () => {
    const webp = await manyFrameWebp(10);
    expect(webpAnimation(webp.subarray(0, webp.length - 5))?.frames).toBe(10);
    const lying = Buffer.from(webp);
    lying.writeUInt32LE(0xffffffff, lying.lastIndexOf('ANMF', undefined, 'latin1') + 4);
    expect(webpAnimation(lying)?.frames).toBe(10);
  });
});
