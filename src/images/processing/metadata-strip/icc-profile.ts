/**
 * Whether `profile` is an ICC profile: at least its 128-byte header, its declared size (the
 * header's first field) its length, and the 'acsp' signature at byte 36. What is not one is
 * ignored by every colour manager, so a stored original that kept it would only carry it: a
 * payload (a script, a page) the service would hand out under the image's URL.
 */
export function isIccProfile(profile: Buffer): boolean {
  return (
    profile.length >= 128 &&
    profile.readUInt32BE(0) === profile.length &&
    profile.toString('latin1', 36, 40) === 'acsp'
  );
}
