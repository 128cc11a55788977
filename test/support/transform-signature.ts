import { createHmac } from 'node:crypto';

/**
 * The signature of a transform URL as a client holding `key` computes it: the first 16 bytes of
 * the HMAC-SHA256 of `<options>/<id>`, in base64url (src/images/delivery/url-signer.ts).
 */
export function transformSignature(key: string, options: string, id: string): string {
  return createHmac('sha256', key)
    .update(`${options}/${id}`)
    .digest()
    .subarray(0, 16)
    .toString('base64url');
}
