import { isAbsolute, relative, resolve, sep } from 'node:path';
import { CONTENT_TYPES } from './storage-provider';

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
 * Where the results an image's transform URLs made are kept: `derived/<imageId>/`, apart from the
 * image's own files (they move with no row and are deleted all together, by prefix, with the image).
 */
export function derivedPrefix(imageId: string): string {
  if (!UUID.test(imageId)) throw new Error('derived keys are built from UUIDs');
  return `derived/${imageId}/`;
}

/** The key of one result of an image's transform URLs: `derived/<imageId>/<variant>.<ext>`. */
export function derivedObjectKey(imageId: string, variant: string, extension: string): string {
  if (!VARIANT.test(variant) || !EXTENSION.test(extension))
    throw new Error('bad variant or extension');
  return `${derivedPrefix(imageId)}${variant}.${extension}`;
}

/**
 * Whether `key` is named by an image's id (one of its files, or its results' prefix), so that no
 * other bytes are ever written at it: not the Ocha API's slug key, which a later import takes again.
 */
export function isKeyOfOneImage(key: string): boolean {
  return isImageFileKey(key) || DERIVED_PREFIX.test(key);
}

/** The image id of a derived key, or undefined for any other key. */
export function imageIdOfDerivedKey(key: string): string | undefined {
  const match = DERIVED_KEY.exec(key);
  return match?.[1];
}

const SLUG = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/**
 * The stable key of a product's image imported from JSON, for storage that invalidates caches on
 * overwrite (the Ocha API: folder `products/`, public id = the product's slug): `products/<slug>.<ext>`.
 * Slugs are unique per organisation only, so `productId` is added when another organisation's
 * product already holds the slug's key: `products/<slug>-<productId>.<ext>`.
 */
export function importedImageKey(slug: string, extension: string, productId?: string): string {
  if (!SLUG.test(slug) || (productId !== undefined && !UUID.test(productId))) {
    throw new Error('imported image keys are built from a slug and a UUID');
  }
  if (!EXTENSION.test(extension)) throw new Error('bad extension');
  return `products/${slug}${productId ? `-${productId}` : ''}.${extension}`;
}

const SERVABLE_EXTENSION = `(${Object.keys(CONTENT_TYPES).join('|')})`;
const UUID_PART = UUID.source.slice(1, -1);
const VARIANT_PART = VARIANT.source.slice(1, -1);
const SLUG_PART = SLUG.source.slice(1, -1);
/** The shapes of the keys of an image's own files (imageObjectKey), with a stored image's extension. */
const IMAGE_FILE_KEYS = [
  new RegExp(`^products/${UUID_PART}/${UUID_PART}/${VARIANT_PART}\\.${SERVABLE_EXTENSION}$`),
  new RegExp(`^uploads/${UUID_PART}/${VARIANT_PART}\\.${SERVABLE_EXTENSION}$`),
];
/** The shapes of every key the functions above make, with the extension of a stored image. */
const SERVABLE_KEYS = [
  ...IMAGE_FILE_KEYS,
  new RegExp(`^products/${SLUG_PART}\\.${SERVABLE_EXTENSION}$`),
];

const DERIVED_PREFIX = new RegExp(`^derived/${UUID_PART}/$`);
const DERIVED_KEY = new RegExp(`^derived/(${UUID_PART})/${VARIANT_PART}\\.${SERVABLE_EXTENSION}$`);

/**
 * Whether `key` has the shape of a key the service writes (an image's file, or the Ocha API's slug
 * key) with the extension of an image type it stores. /media serves nothing else, so a storage
 * folder that holds other files (set to DATA_DIR by mistake, say) cannot leak them.
 */
export function isServableKey(key: string): boolean {
  return isValidKey(key) && SERVABLE_KEYS.some((shape) => shape.test(key));
}

/**
 * Whether `key` names a file of one image by its ids (`products/<product>/<image>/…`,
 * `uploads/<image>/…`): not the Ocha API's slug key (`products/<slug>.<ext>`), whose shape an
 * asset that someone else put in a Cloudinary folder (`sample`, `spring-banner`) has too.
 */
export function isImageFileKey(key: string): boolean {
  return isValidKey(key) && IMAGE_FILE_KEYS.some((shape) => shape.test(key));
}

/**
 * A key without its extension. Two keys that differ only by extension may name the same object
 * (Cloudinary's public ids have none), so they are treated as one when deciding what to delete.
 */
export function keyStem(key: string): string {
  const dot = key.lastIndexOf('.');
  return dot > key.lastIndexOf('/') ? key.slice(0, dot) : key;
}

/**
 * The file of a key below `root`, or undefined when the key is malformed or would leave the root
 * (`..`, absolute paths, encoded separators decoded upstream, …). The only way keys become paths.
 */
export function resolveKeyPath(root: string, key: string): string | undefined {
  if (!isValidKey(key)) return undefined;
  const base = resolve(root);
  const target = resolve(base, key);
  return isPathBelow(base, target) ? target : undefined;
}

/**
 * Whether `path` lies strictly below the folder `base` (both absolute; not `base` itself), as
 * written: a symlink on the way is not followed, so a caller that opens the file compares real
 * paths (see LocalStorageProvider.read).
 */
export function isPathBelow(base: string, path: string): boolean {
  const rel = relative(base, path);
  return rel !== '' && !isAbsolute(rel) && !rel.split(sep).includes('..');
}
