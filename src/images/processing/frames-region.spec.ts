import { attentionBox, framesRegion } from './frames-region';

describe(framesRegion.name, () => {
  it('cuts the box ratio out of the frame, where the crop of the covering size was', () => {
    // 120×90 covering 500×500 is 667×500: a crop from x = 100 there is x = 18 of the frame.
    expect(
      framesRegion({ width: 120, height: 90 }, { width: 500, height: 500 }, { left: 100, top: 0 }),
    ).toEqual({
      left: 18,
      top: 0,
      width: 90,
      height: 90,
    });
    // A tall box of a wide frame: the whole height, a third of the width.
    expect(
      framesRegion({ width: 900, height: 300 }, { width: 100, height: 300 }, { left: 50, top: 0 }),
    ).toEqual({
      left: 50,
      top: 0,
      width: 100,
      height: 300,
    });
  });

  it('stays within the frame whatever the offset and the rounding', () => {
    const frame = { width: 101, height: 77 };
    for (const box of [
      { width: 33, height: 50 },
      { width: 500, height: 7 },
      { width: 1, height: 1 },
      { width: 640, height: 640 },
    ]) {
      for (const offset of [
        { left: 0, top: 0 },
        { left: 10_000, top: 10_000 },
      ]) {
        const region = framesRegion(frame, box, offset);
        expect(region.left).toBeGreaterThanOrEqual(0);
        expect(region.top).toBeGreaterThanOrEqual(0);
        expect(region.width).toBeGreaterThanOrEqual(1);
        expect(region.height).toBeGreaterThanOrEqual(1);
        expect(region.left + region.width).toBeLessThanOrEqual(frame.width);
        expect(region.top + region.height).toBeLessThanOrEqual(frame.height);
      }
    }
  });
});

describe(attentionBox.name, () => {
  it('keeps a box the frame covers, and scales a larger one down, ratio kept, to fit in it', () => {
    expect(attentionBox({ width: 800, height: 600 }, { width: 500, height: 500 })).toEqual({
      width: 500,
      height: 500,
    });
    // A 1000×1 strip and a 500×500 box: scored at 1×1, not at 500,000×500.
    expect(attentionBox({ width: 1000, height: 1 }, { width: 500, height: 500 })).toEqual({
      width: 1,
      height: 1,
    });
    expect(attentionBox({ width: 300, height: 200 }, { width: 500, height: 250 })).toEqual({
      width: 300,
      height: 150,
    });
    expect(attentionBox({ width: 10, height: 4000 }, { width: 400, height: 300 })).toEqual({
      width: 10,
      height: 8,
    });
  });
});
