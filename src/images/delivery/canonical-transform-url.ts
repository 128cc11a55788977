import { decodeId, encodeShortId } from '../../common/ids/short-id';
import { UNSIGNED } from './transform-urls';

/** A path segment that needs no percent-encoding (RFC 3986 pchar, without `%`). */
const PLAIN_SEGMENT = /^[A-Za-z0-9._~!$&'()*+,;=:@-]+$/;
/**
 * A dot segment, which a client resolves rather than requests (RFC 3986 §5.2.4): `%2e%2e` spelled
 * plainly would send the redirect's follower elsewhere (`/transform/../../health` is `/health`).
 */
const DOT_SEGMENT = /^\.\.?$/;
/** An unsigned URL's options with the format first: `f_<format>,p_<preset>`. */
const FORMAT_FIRST = /^(f_[^,]+),(p_[^,]+)$/;

/** A transform URL's segments, decoded, as the route's parameters hold them. */
export interface TransformSegments {
  signature: string;
  options: string;
  imageId: string;
}

/**
 * The path of the canonical spelling of a transform URL, or undefined when `path` (as the request
 * wrote it, without its query) is that spelling already, or has no other one. Each spelling of an
 * image's URL is another object in a CDN (and in a browser's cache), made, stored and kept once
 * more; the route redirects every other spelling to the one the service hands out:
 * - percent-encoded characters that need none (`p_card%2Cf_webp`, `%45Do…`): decoded, signed or not
 *   (the signature is checked against the decoded segments, so it holds for either);
 * - an unsigned URL's image id as a UUID, in any case: its short id, as image responses give it;
 * - an unsigned URL's format before its preset (`f_webp,p_card`): the preset first.
 * A signed URL's id is left as it is spelled, which its signature covers. Spellings refused anyway
 * (a trailing slash, an empty segment: 404 route_not_found; a segment `%2e` or `%2e%2e`, a dot
 * segment once decoded, which is no option, id or signature) are not redirected.
 */
export function canonicalTransformPath(
  path: string,
  { signature, options, imageId }: TransformSegments,
): string | undefined {
  let id = imageId;
  let opts = options;
  if (signature === UNSIGNED) {
    if (id.length !== 22) id = shortIdOf(id) ?? id;
    const formatFirst = FORMAT_FIRST.exec(opts);
    if (formatFirst) opts = `${formatFirst[2]},${formatFirst[1]}`;
  }
  const canonical = `/transform/${signature}/${opts}/${id}`;
  if (canonical === path) return undefined;
  const plain = [signature, opts, id].every((s) => PLAIN_SEGMENT.test(s) && !DOT_SEGMENT.test(s));
  return plain ? canonical : undefined;
}

/** The short id of a UUID (any case), or undefined for anything else. */
function shortIdOf(id: string): string | undefined {
  const uuid = decodeId(id);
  return uuid === undefined ? undefined : encodeShortId(uuid);
}
