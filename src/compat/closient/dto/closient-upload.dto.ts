import { PickType } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsOptional } from 'class-validator';
import { UploadImageFieldsDto } from '../../../images/dto/upload-image.dto';
import { emptyAsUnsent, parseDjangoFormBoolean } from '../../django-form-boolean';

/**
 * The text fields of Closient's upload (the file is the `image` part): `title` (at most 255
 * characters, default "") as the main API reads it, and `is_primary` (default false) spelled as
 * Closient's Django reads a boolean (`true`, `t`, `yes`, `y`, `on`, `1` and their opposites);
 * sent empty, it is not sent (false), as Django REST framework reads a field that is not required.
 */
export class ClosientUploadFieldsDto extends PickType(UploadImageFieldsDto, ['title'] as const) {
  /** Whether the image becomes the product's hero image (default false). */
  @IsOptional()
  @Transform(emptyAsUnsent(parseDjangoFormBoolean))
  @IsBoolean({ message: 'is_primary must be true or false' })
  is_primary?: boolean;
}
