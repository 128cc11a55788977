/** A rectangle of a frame, in its pixels. */
export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * The region to cut from every frame of a `frame`-sized animation so that, resized to `box`, it
 * fills the box exactly around the part an attention crop chose: `offset` is that crop's top-left
 * in the first frame scaled to cover the box (libvips' smart crop reads one frame; cutting the
 * same region from each keeps the frames aligned). The region has the box's ratio, as large as the
 * frame allows, and lies within the frame whatever the rounding.
 */
export function framesRegion(
  frame: { width: number; height: number },
  box: { width: number; height: number },
  offset: { left: number; top: number },
): Region {
  // Frame pixels per box pixel: the covering scale, the smaller of the two ratios.
  const scale = Math.min(frame.width / box.width, frame.height / box.height);
  const width = clamp(Math.round(box.width * scale), 1, frame.width);
  const height = clamp(Math.round(box.height * scale), 1, frame.height);
  return {
    left: clamp(Math.round(offset.left * scale), 0, frame.width - width),
    top: clamp(Math.round(offset.top * scale), 0, frame.height - height),
    width,
    height,
  };
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/**
 * The box an attention crop is scored at: `box`, scaled down (ratio kept) until it fits in the
 * frame. libvips scores every pixel of the image scaled to cover the box: a 1000×1 strip covering
 * 500×500 is scaled to 500,000×500 first, 18 s and gigabytes for a file of 100 bytes. Scored at
 * this box, the crop reads no more pixels than the frame has, and is then enlarged to `box`.
 */
export function attentionBox(
  frame: { width: number; height: number },
  box: { width: number; height: number },
): { width: number; height: number } {
  const scale = Math.min(1, frame.width / box.width, frame.height / box.height);
  if (scale === 1) return { width: box.width, height: box.height };
  return {
    width: clamp(Math.round(box.width * scale), 1, frame.width),
    height: clamp(Math.round(box.height * scale), 1, frame.height),
  };
}
