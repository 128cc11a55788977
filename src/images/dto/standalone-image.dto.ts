import { ApiProperty, ApiPropertyOptional, PickType } from '@nestjs/swagger';
import { IsEnum, IsOptional, IsString } from 'class-validator';
import { MaxLength } from '../../common/http/max-length';
import { encodeShortId } from '../../common/ids/short-id';
import { CursorQueryDto } from '../../common/pagination/cursor-query.dto';
import { ImagePurpose, type Image } from '../entities/image.entity';
import type { ImageUrls } from '../image-files.service';
import { UpdateImageDto } from './gallery.dto';
import type { ResponsiveImageDto } from './image.dto';

/**
 * A stand-alone image (Inventorum, the back-office uploader): an asset of the organisation that is
 * in no product's gallery, kept until deleted unless it was uploaded with an expiry.
 */
export class StandaloneImageDto {
  /**
   * Give it as `image_id` to `POST /api/v1/products/{id}/images/attach` to attach it (purpose
   * `product` only).
   * @example '9bYsGJZVNPTSbQeJxuSeuy'
   */
  id!: string;

  /** The original's storage key; `GET /api/v1/images?key=` finds the image by it. */
  @ApiProperty({ example: 'uploads/0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e/original.png' })
  key!: string;

  /**
   * The original.
   * @example 'https://cdn.example.com/uploads/0b6f…/original.png'
   */
  url!: string;

  @ApiProperty({ enum: ImagePurpose })
  purpose!: ImagePurpose;

  /** @example 'Team photo' */
  title!: string;
  /** @example 'The team in front of the shop' */
  alt_text!: string;
  /** @example 'Taken at the summer party, 2026.' */
  description!: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    description: 'Rendition name → URL.',
    example: { thumb: 'https://cdn.example.com/uploads/…/thumb.webp' },
  })
  renditions!: Record<string, string>;

  @ApiProperty({ enum: ['jpeg', 'png', 'gif', 'webp', 'avif', 'svg'] })
  format!: string;

  @ApiProperty({ type: 'integer', example: 800 })
  width!: number;
  @ApiProperty({ type: 'integer', example: 600 })
  height!: number;

  /** Bytes of the stored original. */
  @ApiProperty({ type: 'integer', example: 183040 })
  size!: number;

  /** @example 'team.jpg' */
  original_filename!: string;

  /** @example '2026-11-22T10:15:00.000Z' */
  created_at!: Date;
  /** @example '2026-11-22T10:15:00.000Z' */
  updated_at!: Date;

  @ApiProperty({
    type: Date,
    nullable: true,
    description:
      'When it is deleted unless attached to a product first (uploaded with `expires_in`); ' +
      'null: kept until deleted.',
    example: '2026-11-23T10:15:00.000Z',
  })
  expires_at!: Date | null;

  /** Per rendition preset, the image ready for `<picture>` (see the README's example). */
  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: '#/components/schemas/ResponsiveImageDto' },
  })
  responsive!: Record<string, ResponsiveImageDto>;

  static from(
    image: Image,
    urls: ImageUrls,
    responsive: Record<string, ResponsiveImageDto>,
  ): StandaloneImageDto {
    return {
      id: encodeShortId(image.id),
      key: image.storageKey,
      url: urls.original,
      purpose: image.purpose,
      title: image.title,
      alt_text: image.altText,
      description: image.description,
      renditions: urls.renditions,
      responsive,
      format: image.format,
      width: image.width,
      height: image.height,
      size: image.size,
      original_filename: image.originalFilename,
      created_at: image.createdAt,
      updated_at: image.updatedAt,
      expires_at: image.expiresAt,
    };
  }
}

/** `GET /api/v1/images`: newest first, optionally of one purpose or by storage key. */
export class ListStandaloneImagesQueryDto extends CursorQueryDto {
  @ApiPropertyOptional({ enum: ImagePurpose })
  @IsOptional()
  @IsEnum(ImagePurpose, {
    message: `purpose must be one of: ${Object.values(ImagePurpose).join(', ')}`,
  })
  purpose?: ImagePurpose;

  /** The exact storage key of the original, as an upload answered it (`key`). */
  @ApiPropertyOptional({ example: 'uploads/0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e/original.png' })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  key?: string;
}

export class StandaloneImagePageDto {
  items!: StandaloneImageDto[];

  /** Pass as `cursor` for the next page; null on the last page. */
  @ApiProperty({ type: String, nullable: true })
  next_cursor!: string | null;
}

/** `PATCH /api/v1/images/{imageId}`: the image's text; what is left out stays. */
export class UpdateStandaloneImageDto extends PickType(UpdateImageDto, [
  'title',
  'alt_text',
  'description',
] as const) {}
