/**
 * The Content-Security-Policy of the console's pages: its own scripts and styles only (Vite emits
 * them as files, so nothing inline is allowed), API calls to this origin, and images from this
 * origin, from where the service hands image URLs out (`imageOrigins`), and data:/blob: for the
 * previews of files about to be uploaded. Nothing may frame it.
 */
export function consoleContentSecurityPolicy(imageOrigins: readonly string[]): string {
  const images = ["'self'", ...new Set(imageOrigins), 'data:', 'blob:'];
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src ${images.join(' ')}`,
    "connect-src 'self'",
    "font-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** `https://cdn.example.com` of an http(s) URL; undefined for anything else. */
export function httpOrigin(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.origin : undefined;
  } catch {
    return undefined;
  }
}
