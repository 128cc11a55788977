import { IsIn, IsOptional } from 'class-validator';
import type { ImagePurpose } from '../../../images/entities/image.entity';
import { INVENTORUM_TYPES } from '../inventorum-form';

/** Long values are cut in the message that echoes them (at this many characters). */
const ECHOED_LENGTH = 64;

/** Django REST framework's words for a value not among the choices. */
export function notAValidChoice(value: unknown): string {
  if (value === undefined) return 'is required';
  // Form fields are text: anything else is shown as JSON.
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  // Cut by characters (code points), never between the two halves of one: a lone surrogate
  // cannot be written as UTF-8, and strict JSON readers refuse its escape.
  const characters = [...text];
  const shown =
    characters.length > ECHOED_LENGTH ? `${characters.slice(0, ECHOED_LENGTH).join('')}…` : text;
  return `"${shown}" is not a valid choice.`;
}

/** The text field of Inventorum's `POST /api/images/`: what the image is for. */
export class InventorumUploadFieldsDto {
  @IsIn(INVENTORUM_TYPES, { message: ({ value }) => notAValidChoice(value) })
  type!: ImagePurpose;
}

/**
 * Versions 1 and 2 of the same form: no `type` (the form's reader drops one sent anyway); the
 * image is a product's. The optional field is there because class-validator refuses to validate a
 * class with no decorated property at all.
 */
export class UntypedInventorumUploadFieldsDto {
  @IsOptional()
  @IsIn(INVENTORUM_TYPES)
  type?: ImagePurpose;
}
