import { ApiProperty } from '@nestjs/swagger';
import { encodeShortId } from '../../common/ids/short-id';
import { ImagePurpose, type Image } from '../entities/image.entity';
import { humanReadableSize } from '../human-size';
import type { ImageUrls } from '../image-urls';

export class RenditionDto {
  url!: string;
  width!: number;
  height!: number;

  /** `webp`, or `auto` where the storage picks the best format for each browser (Cloudinary). */
  @ApiProperty({ example: 'webp' })
  format!: string;

  /** Bytes; null where the storage makes the rendition on delivery (Cloudinary). */
  @ApiProperty({ type: Number, nullable: true, example: 10240 })
  size!: number | null;
}

export class UploaderDto {
  id!: string;
  username!: string;
  full_name!: string;
}

export class ImageDto {
  id!: string;

  @ApiProperty({ type: String, nullable: true })
  product_id!: string | null;

  @ApiProperty({ enum: ImagePurpose })
  purpose!: ImagePurpose;

  title!: string;
  alt_text!: string;
  is_primary!: boolean;
  priority!: number;
  original_filename!: string;

  @ApiProperty({ enum: ['jpeg', 'png', 'gif', 'webp', 'avif', 'svg'] })
  format!: string;

  @ApiProperty({ example: 'image/jpeg' })
  mime_type!: string;

  /** As displayed (after EXIF orientation). */
  width!: number;
  height!: number;

  /** Bytes of the stored original. */
  size!: number;

  @ApiProperty({ example: '2.5 MB' })
  human_readable_size!: string;

  @ApiProperty({ enum: ['RGB', 'RGBA', 'CMYK', 'GRAYSCALE', 'GRAYSCALE_ALPHA'] })
  color_mode!: string;

  has_alpha!: boolean;

  /** SHA-256 (hex) of the stored original. */
  sha256!: string;

  /** The original, re-encoded without metadata. */
  url!: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: '#/components/schemas/RenditionDto' },
  })
  renditions!: Record<string, RenditionDto>;

  @ApiProperty({ type: UploaderDto, nullable: true })
  uploaded_by!: UploaderDto | null;

  created_at!: Date;
  updated_at!: Date;

  static from(image: Image, urls: ImageUrls, uploader: UploaderDto | null): ImageDto {
    return {
      id: encodeShortId(image.id),
      product_id: image.productId ? encodeShortId(image.productId) : null,
      purpose: image.purpose,
      title: image.title,
      alt_text: image.altText,
      is_primary: image.isPrimary,
      priority: image.priority,
      original_filename: image.originalFilename,
      format: image.format,
      mime_type: image.mimeType,
      width: image.width,
      height: image.height,
      size: image.size,
      human_readable_size: humanReadableSize(image.size),
      color_mode: image.colorMode,
      has_alpha: image.hasAlpha,
      sha256: image.sha256,
      url: urls.original,
      renditions: Object.fromEntries(
        Object.entries(image.renditions).map(([name, r]) => [
          name,
          {
            url: urls.renditions[name],
            width: r.width,
            height: r.height,
            format: r.format,
            size: r.size,
          },
        ]),
      ),
      uploaded_by: uploader,
      created_at: image.createdAt,
      updated_at: image.updatedAt,
    };
  }
}
