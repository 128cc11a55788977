import type { Multipart } from '@fastify/multipart';
import { ImagePurpose } from '../../images/entities/image.entity';

/**
 * Inventorum's image types, in the order that gives each its number in responses ("a derivative
 * of value index in type array, starting from 0"). Each is the purpose of the same name.
 */
export const INVENTORUM_TYPES = [
  ImagePurpose.Product,
  ImagePurpose.Account,
  ImagePurpose.User,
  ImagePurpose.Category,
] as const;

/** The number Inventorum answers for an image type: product 0, account 1, user 2, category 3. */
export function typeNumber(purpose: ImagePurpose): number {
  const index = INVENTORUM_TYPES.indexOf(purpose);
  if (index < 0) throw new Error(`no Inventorum type for purpose ${purpose}`);
  return index;
}

/** The last API version whose file field is `product_image`; `image` from version 8 on. */
const LAST_PRODUCT_IMAGE_VERSION = 7;

export type InventorumImageField = 'image' | 'product_image';

/**
 * The file field of an `X-Api-Version`: `product_image` for 7 and earlier, `image` otherwise. An
 * absent header means the latest version; so does a value that is not a version number.
 */
export function imageFieldFor(version: string | string[] | undefined): InventorumImageField {
  const value = Array.isArray(version) ? version[0] : version;
  const match = value === undefined ? null : /^\s*v?(\d{1,6})(?:\.\d+)*\s*$/i.exec(value);
  return match && Number(match[1]) <= LAST_PRODUCT_IMAGE_VERSION ? 'product_image' : 'image';
}

/** What the translation of a form noticed, for the error it may lead to. */
export interface FormNotes {
  /** The image field came as a text value, not a file (`-F image=name.jpg` without `@`). */
  imageSentAsText: boolean;
}

/**
 * Inventorum's form as the service's stand-alone upload reads it: the version's file field
 * (`image` or `product_image`) becomes the `image` file and `type` is kept; anything else is
 * ignored, as Inventorum ignores fields it does not know (an ignored file is drained). A text
 * value in the image field is ignored too, and noted.
 */
export async function* inventorumParts(
  parts: AsyncIterable<Multipart>,
  imageField: InventorumImageField,
  notes: FormNotes,
): AsyncGenerator<Multipart> {
  for await (const part of parts) {
    if (part.fieldname === imageField) {
      if (part.type === 'file') {
        part.fieldname = 'image';
        yield part;
      } else {
        notes.imageSentAsText = true;
      }
    } else if (part.type === 'field' && part.fieldname === 'type') {
      yield part;
    } else if (part.type === 'file') {
      part.file.resume();
    }
  }
}
