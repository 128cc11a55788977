import { Transform } from 'class-transformer';
import {
  IsBoolean,
  IsEnum,
  IsInt,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { ImagePurpose } from '../entities/image.entity';

/** Form fields arrive as text: "true"/"false"/"1"/"0" are booleans, digits are integers. */
const formBoolean = ({ value }: { value: unknown }): unknown =>
  value === 'true' || value === '1' ? true : value === 'false' || value === '0' ? false : value;
const formInteger = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : value;

/** The text fields of a multipart image upload (the file is the `image` part). */
export class UploadImageFieldsDto {
  @IsOptional()
  @IsString()
  @MaxLength(255)
  title?: string;

  @IsOptional()
  @IsString()
  @MaxLength(1000)
  alt_text?: string;

  @IsOptional()
  @Transform(formBoolean)
  @IsBoolean({ message: 'is_primary must be true or false' })
  is_primary?: boolean;

  @IsOptional()
  @Transform(formInteger)
  @IsInt({ message: 'priority must be an integer ≥ 0' })
  @Min(0)
  @Max(1_000_000)
  priority?: number;
}

/** The text field of a stand-alone upload (Inventorum): what the image is for. */
export class StandaloneUploadFieldsDto {
  @IsEnum(ImagePurpose, {
    message: `purpose must be one of: ${Object.values(ImagePurpose).join(', ')}`,
  })
  purpose!: ImagePurpose;
}
