import { PickType } from '@nestjs/swagger';
import { UploadImageFieldsDto } from '../../../images/dto/upload-image.dto';

/**
 * The text fields of Closient's upload (the file is the `image` part): `title` (at most 255
 * characters, default "") and `is_primary` (default false), read as the main API reads them.
 */
export class ClosientUploadFieldsDto extends PickType(UploadImageFieldsDto, [
  'title',
  'is_primary',
] as const) {}
