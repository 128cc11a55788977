import { createHash } from 'node:crypto';

/**
 * A weak entity tag drawn from the whole of a JSON answer (RFC 9110 §8.8.3): the first 128 bits
 * of the SHA-256 of its JSON, in base64url (`W/"3q2-7w…"`, 22 characters between the quotes).
 *
 * For a read whose answer no version covers entirely (one image: its uploader's name, its URLs,
 * which the storage and signing configuration make, change no gallery version): anything the body
 * shows that changes changes the tag, by construction. Weak, as it names the content and not the
 * bytes sent (a compressed answer carries the same tag), and so never taken by If-Match, which
 * compares strongly: it is for If-None-Match only.
 */
export function representationEtag(body: unknown): string {
  const digest = createHash('sha256').update(JSON.stringify(body)).digest('base64url');
  return `W/"${digest.slice(0, 22)}"`;
}
