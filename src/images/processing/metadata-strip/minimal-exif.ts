/**
 * The smallest EXIF block that says how an image is displayed: a big-endian TIFF header and one
 * IFD holding the Orientation tag alone. Stored originals keep the orientation (browsers apply it)
 * and nothing else of the camera's EXIF: no GPS, no serial numbers, no thumbnail.
 */
export function minimalExif(orientation: number): Buffer {
  const tiff = Buffer.alloc(26);
  tiff.write('MM', 0, 'latin1');
  tiff.writeUInt16BE(42, 2);
  tiff.writeUInt32BE(8, 4); // IFD0 right after the header
  tiff.writeUInt16BE(1, 8); // one entry
  tiff.writeUInt16BE(0x0112, 10); // Orientation
  tiff.writeUInt16BE(3, 12); // SHORT
  tiff.writeUInt32BE(1, 14); // one value, held in the entry itself
  tiff.writeUInt16BE(orientation, 18);
  tiff.writeUInt32BE(0, 22); // no next IFD
  return tiff;
}

/** An orientation worth writing: 2-8 (1, upright, needs no EXIF at all). */
export function needsOrientation(orientation: number): boolean {
  return Number.isInteger(orientation) && orientation >= 2 && orientation <= 8;
}
