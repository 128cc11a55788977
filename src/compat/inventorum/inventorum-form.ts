import type { Readable } from 'node:stream';
import type { Multipart } from '@fastify/multipart';
import { AppError } from '../../common/errors/app.error';
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
/** The first API version with a `type` ("V3 and later"): before it, every image is a product's. */
const FIRST_TYPE_VERSION = 3;

export type InventorumImageField = 'image' | 'product_image';

/**
 * The version an `X-Api-Version` asks for; undefined for the latest (no header, or a value that is
 * not a version number).
 */
function versionOf(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value === undefined ? null : /^\s*v?(\d{1,6})(?:\.\d+)*\s*$/i.exec(value);
  return match ? Number(match[1]) : undefined;
}

/** The file field of an `X-Api-Version`: `product_image` for 7 and earlier, `image` otherwise. */
export function imageFieldFor(header: string | string[] | undefined): InventorumImageField {
  const version = versionOf(header);
  return version !== undefined && version <= LAST_PRODUCT_IMAGE_VERSION ? 'product_image' : 'image';
}

/**
 * Whether an `X-Api-Version` has the `type` field: 3 and later. Versions 1 and 2 have none (their
 * clients never send it), and upload product images.
 */
export function takesTypeFor(header: string | string[] | undefined): boolean {
  const version = versionOf(header);
  return version === undefined || version >= FIRST_TYPE_VERSION;
}

/** What the translation of a form noticed, for the error it may lead to. */
export interface FormNotes {
  /** The image field came as a text value, not a file (`-F image=name.jpg` without `@`). */
  imageSentAsText: boolean;
}

/**
 * Inventorum's form as the service's stand-alone upload reads it: the version's file field
 * (`image` or `product_image`) becomes the `image` file and `type` is kept where the version has
 * it; anything else is ignored, as Inventorum ignores fields it does not know (an ignored file is
 * drained, and refused the moment it crosses the upload limit, `maxFileBytes`, as the image would
 * be). A text value in the image field is ignored too, and noted.
 *
 * A `type` sent more than once is read as Django reads a repeated form field (`QueryDict.get` and
 * `__getitem__`, behind Django REST framework's fields): its last value, the others unread. So it
 * is passed on once, after the other parts, when the last has come; the service's reader, which
 * refuses a field sent twice, sees one.
 */
export async function* inventorumParts(
  parts: AsyncIterable<Multipart>,
  imageField: InventorumImageField,
  notes: FormNotes,
  takesType = true,
  maxFileBytes = Number.POSITIVE_INFINITY,
): AsyncGenerator<Multipart> {
  let type: Multipart | undefined;
  for await (const part of parts) {
    if (part.fieldname === imageField) {
      if (part.type === 'file') {
        part.fieldname = 'image';
        yield part;
      } else {
        notes.imageSentAsText = true;
      }
    } else if (part.type === 'field' && part.fieldname === 'type' && takesType) {
      type = part;
    } else if (part.type === 'file') {
      await drainWithinLimit(part.file, maxFileBytes);
    }
  }
  if (type) yield type;
}

/**
 * Reads an ignored file to its end; the reader stops counting it at the limit but would read the
 * rest of its part (of a chunked body, whatever its client goes on sending), so the moment it
 * crosses the limit is the moment to refuse it: 413, `Connection: close`, the rest never read.
 */
function drainWithinLimit(
  file: Readable & { truncated?: boolean },
  maxBytes: number,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const settle = (error?: Error) => {
      file.off('limit', overLimit).off('end', ended).off('error', settle);
      if (error === undefined) resolve();
      else reject(error);
    };
    const overLimit = () => settle(ignoredFileTooLarge(maxBytes));
    const ended = () => settle();
    file.once('limit', overLimit).once('end', ended).once('error', settle);
    if (file.truncated) overLimit();
    else file.resume();
  });
}

/** An ignored file over the limit: no field of the form is at fault, so none is named. */
function ignoredFileTooLarge(maxBytes: number): AppError {
  return new AppError(
    'file_too_large',
    `A file of the form is larger than the upload limit (${maxBytes} bytes).`,
    [],
    { Connection: 'close' },
  );
}
