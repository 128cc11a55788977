/**
 * The back-office uploader's formats ("jpg", "jpeg", "gif", "png", "webp"), by media type as the
 * bytes say. An animated PNG is a .png file (image/apng to file-type, whatever its frame count:
 * some exporters write one frame so): taken as the service takes it, stored as PNG.
 */
export const BACKOFFICE_MEDIA_TYPES: readonly string[] = [
  'image/jpeg',
  'image/png',
  'image/apng',
  'image/gif',
  'image/webp',
];

/** Its largest file: "Max supported file size: 15Mb", read as 15 MiB (the generous reading). */
export const BACKOFFICE_MAX_BYTES = 15 * 1024 * 1024;

/** Whether a file of this media type (as its bytes say; undefined: unknown) is accepted. */
export function isBackofficeFormat(mediaType: string | undefined): boolean {
  return mediaType !== undefined && BACKOFFICE_MEDIA_TYPES.includes(mediaType);
}

/** The route's own limit, which the service's general limit (MAX_UPLOAD_BYTES) may lower. */
export function backofficeLimit(maxUploadBytes: number): number {
  return Math.min(BACKOFFICE_MAX_BYTES, maxUploadBytes);
}
