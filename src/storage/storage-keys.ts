import { isAbsolute, relative, resolve, sep } from 'node:path';

/**
 * Object keys are made by the server, never from a client's file name:
 * `products/<productId>/<imageId>/<variant>.<ext>` (or `uploads/<imageId>/…` before an image is
 * attached to a product). Lower-case letters, digits, `-`, `_`, `.` and `/` only.
 */
const KEY = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const VARIANT = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const EXTENSION = /^[a-z0-9]{1,5}$/;

export function isValidKey(key: string): boolean {
  return key.length <= 512 && KEY.test(key) && !key.split('/').some((s) => s === '.' || s === '..');
}

export function imageObjectKey(
  owner: { productId: string | null },
  imageId: string,
  variant: string,
  extension: string,
): string {
  if (!UUID.test(imageId) || (owner.productId !== null && !UUID.test(owner.productId))) {
    throw new Error('image keys are built from UUIDs');
  }
  if (!VARIANT.test(variant) || !EXTENSION.test(extension))
    throw new Error('bad variant or extension');
  const prefix = owner.productId ? `products/${owner.productId}` : 'uploads';
  return `${prefix}/${imageId}/${variant}.${extension}`;
}

/**
 * The file of a key below `root`, or undefined when the key is malformed or would leave the root
 * (`..`, absolute paths, encoded separators decoded upstream, …). The only way keys become paths.
 */
export function resolveKeyPath(root: string, key: string): string | undefined {
  if (!isValidKey(key)) return undefined;
  const base = resolve(root);
  const target = resolve(base, key);
  const rel = relative(base, target);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || rel.split(sep).includes('..')) {
    return undefined;
  }
  return target;
}
