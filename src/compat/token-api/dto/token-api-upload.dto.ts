import { PickType } from '@nestjs/swagger';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { FormInteger } from '../../../common/http/form-values';
import { UploadImageFieldsDto } from '../../../images/dto/upload-image.dto';

/** The gallery's largest priority. */
const MAX_ORDER = 1_000_000;
const ORDER_RULE = `order must be an integer from 0 to ${MAX_ORDER}`;

/**
 * The text fields of the token API's upload (the file is the `image` part): `alt_text` and
 * `is_primary` as the main API reads them (`True`, `true`, `1`… for a boolean), and `order`, the
 * gallery priority.
 */
export class TokenApiUploadFieldsDto extends PickType(UploadImageFieldsDto, [
  'alt_text',
  'is_primary',
] as const) {
  /** The gallery priority (lower first); the token API's default is 0. */
  @IsOptional()
  @FormInteger()
  @IsInt({ message: ORDER_RULE })
  @Min(0, { message: ORDER_RULE })
  @Max(MAX_ORDER, { message: ORDER_RULE })
  order?: number;
}
