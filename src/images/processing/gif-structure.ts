/**
 * Whether the GIF `gif` ends inside a block: an image's or an extension's data cut short (a
 * transfer cut, a file written halfway). libvips' GIF loader decodes such a file as far as its
 * last complete frame and says nothing, so an animation cut at half its bytes was stored with half
 * its frames; the blocks are walked here (linear: a length byte per sub-block), before decoding.
 *
 * A file that ends between blocks without the trailer (0x3B), which some encoders leave out and
 * browsers show all the same, is not cut; nor is one with a block this walk does not know (left
 * to the decoder, which says whether it is an image). Pure.
 */
export function gifTruncated(gif: Buffer): boolean {
  if (gif.length < 13) return true;
  let pos = 13 + colourTableSize(gif[10]);
  while (pos < gif.length) {
    const introducer = gif[pos];
    if (introducer === TRAILER) return false;
    if (introducer === EXTENSION) {
      pos = afterSubBlocks(gif, pos + 2);
    } else if (introducer === IMAGE) {
      if (pos + 10 > gif.length) return true;
      // The descriptor (position, size, flags), its colour table, the LZW code size, the data.
      pos = afterSubBlocks(gif, pos + 10 + colourTableSize(gif[pos + 9]) + 1);
    } else {
      return false;
    }
    if (pos > gif.length) return true;
  }
  return pos > gif.length;
}

const EXTENSION = 0x21;
const IMAGE = 0x2c;
const TRAILER = 0x3b;

/** The bytes of the colour table a packed field (the screen's, or an image's) declares. */
function colourTableSize(packed: number): number {
  return packed & 0x80 ? 3 * 2 ** ((packed & 0x07) + 1) : 0;
}

/**
 * Where the data sub-blocks from `pos` end (after their zero-length terminator); past the end of
 * `gif` when they are cut.
 */
function afterSubBlocks(gif: Buffer, start: number): number {
  let pos = start;
  while (pos < gif.length) {
    const size = gif[pos];
    pos += 1 + size;
    if (size === 0) return pos;
  }
  return gif.length + 1;
}
