import { IsBoolean, IsEnum, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { MaxLength } from '../../common/http/max-length';
import { Trimmed } from '../../common/http/validation';
import { FormBoolean, FormInteger } from '../../common/http/form-values';
import { ImagePurpose } from '../entities/image.entity';
import { MAX_PRIORITY } from './gallery.dto';
import { EmptyOrNameText, EmptyOrVisibleMultilineText } from '../../common/http/display-text';

/** The longest `expires_in` of a stand-alone upload: 30 days. */
export const MAX_EXPIRES_IN_SECONDS = 2_592_000;
/** The shortest `expires_in`: a minute. */
export const MIN_EXPIRES_IN_SECONDS = 60;
const EXPIRES_IN_RULE = `expires_in must be an integer from ${MIN_EXPIRES_IN_SECONDS} to ${MAX_EXPIRES_IN_SECONDS} (seconds)`;

/** Text an image carries, as form fields: what a gallery upload and a stand-alone upload share. */
class ImageTextFieldsDto {
  @IsOptional()
  @Trimmed()
  @IsString()
  @MaxLength(255)
  @EmptyOrNameText()
  title?: string;

  @IsOptional()
  @Trimmed()
  @IsString()
  @MaxLength(1000)
  @EmptyOrNameText()
  alt_text?: string;

  @IsOptional()
  @IsString()
  @MaxLength(5000)
  @EmptyOrVisibleMultilineText()
  description?: string;
}

/** The text fields of a multipart image upload (the file is the `image` part). */
export class UploadImageFieldsDto extends ImageTextFieldsDto {
  @IsOptional()
  @FormBoolean()
  @IsBoolean({ message: 'is_primary must be true or false' })
  is_primary?: boolean;

  @IsOptional()
  @FormInteger()
  @IsInt({ message: 'priority must be an integer ≥ 0' })
  @Min(0)
  @Max(MAX_PRIORITY)
  priority?: number;
}

/**
 * The text fields of a stand-alone upload (Inventorum, the back-office uploader): what the image
 * is for, its text, and for an upload-then-attach flow, when it goes if it is not attached.
 */
export class StandaloneUploadFieldsDto extends ImageTextFieldsDto {
  @IsEnum(ImagePurpose, {
    message: `purpose must be one of: ${Object.values(ImagePurpose).join(', ')}`,
  })
  purpose!: ImagePurpose;

  /** Seconds until the image is deleted unless attached to a product first; absent: kept. */
  @IsOptional()
  @FormInteger()
  @IsInt({ message: EXPIRES_IN_RULE })
  @Min(MIN_EXPIRES_IN_SECONDS, { message: EXPIRES_IN_RULE })
  @Max(MAX_EXPIRES_IN_SECONDS, { message: EXPIRES_IN_RULE })
  expires_in?: number;
}
