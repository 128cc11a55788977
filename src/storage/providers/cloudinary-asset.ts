import { isValidKey } from '../storage-keys';

export interface CloudinaryAsset {
  /** The upload's `folder` parameter (CLOUDINARY_FOLDER). */
  folder: string;
  /** The upload's `public_id` parameter, relative to the folder, without extension. */
  publicId: string;
  /** The asset's id in the account: folder + public id. Destroy and delivery use it. */
  fullId: string;
  extension: string;
}

/**
 * Where a key lives on Cloudinary. The folder is the service's place in the account, and product
 * keys live directly in it: with the default folder `products/`, `products/<p>/<i>/card.webp` is
 * `products/<p>/<i>/card` (not products/products/…); other keys (`uploads/…`) go below it as they
 * are. Public ids have no extension; Cloudinary records the format.
 */
export function cloudinaryAsset(key: string, folder: string): CloudinaryAsset {
  if (!isValidKey(key)) throw new Error(`invalid storage key: ${key}`);
  const dot = key.lastIndexOf('.');
  if (dot <= key.lastIndexOf('/')) throw new Error(`storage key without extension: ${key}`);
  const withoutExtension = key.slice(0, dot);
  const publicId = withoutExtension.startsWith('products/')
    ? withoutExtension.slice('products/'.length)
    : withoutExtension;
  return { folder, publicId, fullId: `${folder}${publicId}`, extension: key.slice(dot + 1) };
}

/**
 * The key of an asset in the account, the reverse of {@link cloudinaryAsset}: its full public id
 * (folder included) and the format Cloudinary recorded as the extension. Undefined for an asset
 * outside the folder. Keys under `uploads/` keep their path; every other asset of the folder is a
 * product key. A key stored under another extension comes back with Cloudinary's format (the same
 * object: compare keys by stem).
 */
export function keyOfCloudinaryAsset(
  fullId: string,
  format: string,
  folder: string,
): string | undefined {
  if (!fullId.startsWith(folder) || fullId.length === folder.length) return undefined;
  const publicId = fullId.slice(folder.length);
  return `${publicId.startsWith('uploads/') ? '' : 'products/'}${publicId}.${format}`;
}

/** The public-id prefix under which the assets of keys starting with `prefix` live. */
export function cloudinaryPrefix(prefix: string, folder: string): string {
  return `${folder}${prefix.startsWith('products/') ? prefix.slice('products/'.length) : prefix}`;
}
