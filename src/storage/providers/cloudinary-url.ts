/**
 * The account a Cloudinary provider uses, from CLOUDINARY_URL. Apart from the provider so that
 * reading the settings does not load the SDK, which throws on a malformed CLOUDINARY_URL as soon
 * as it is loaded, whichever driver is chosen.
 */
export interface CloudinaryCredentials {
  cloudName: string;
  apiKey: string;
  apiSecret: string;
  /**
   * Options of CLOUDINARY_URL's query string the SDK understands, such as `upload_prefix`,
   * `secure_distribution`, `cname`, `private_cdn` and `secure`.
   */
  settings: Record<string, string>;
}

/** `cloudinary://KEY:SECRET@CLOUD?opt=value` → its parts (already validated in shape at start-up). */
export function parseCloudinaryUrl(value: string): CloudinaryCredentials {
  const url = new URL(value);
  if (url.protocol !== 'cloudinary:')
    throw new Error('CLOUDINARY_URL must start with cloudinary://');
  return {
    cloudName: url.hostname,
    apiKey: decodeURIComponent(url.username),
    apiSecret: decodeURIComponent(url.password),
    settings: Object.fromEntries(url.searchParams),
  };
}
