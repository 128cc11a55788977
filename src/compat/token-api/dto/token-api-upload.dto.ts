import { PickType } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, Max, Min } from 'class-validator';
import { UploadImageFieldsDto } from '../../../images/dto/upload-image.dto';
import { emptyAsUnsent, parseDjangoFormBoolean } from '../../django-form-boolean';
import { parseDjangoFormInteger } from '../../django-form-integer';

/** The gallery's largest priority. */
const MAX_ORDER = 1_000_000;
const ORDER_RULE = `order must be an integer from 0 to ${MAX_ORDER}`;

/**
 * The text fields of the token API's upload (the file is the `image` part): `alt_text` as the
 * main API reads it, `is_primary` (`True`, `t`, `yes`, `1`… as Django REST framework reads a boolean) and `order`, the gallery
 * priority; either of the two sent empty is not sent.
 */
export class TokenApiUploadFieldsDto extends PickType(UploadImageFieldsDto, ['alt_text'] as const) {
  /** Whether the image becomes the product's primary image (default false). */
  @IsOptional()
  @Transform(emptyAsUnsent(parseDjangoFormBoolean))
  @IsBoolean({ message: 'is_primary must be true or false' })
  is_primary?: boolean;

  /**
   * The gallery priority (lower first); the token API's default is 0. Read as Django REST
   * framework reads an integer: `2.0` (Python's requests sending a float) is 2.
   */
  @IsOptional()
  @Transform(emptyAsUnsent(parseDjangoFormInteger))
  @IsInt({ message: ORDER_RULE })
  @Min(0, { message: ORDER_RULE })
  @Max(MAX_ORDER, { message: ORDER_RULE })
  order?: number;
}
