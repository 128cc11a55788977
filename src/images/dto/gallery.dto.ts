import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsInt,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { Optional } from '../../common/http/validation';
import { PageMetaDto, PageQuery } from '../../common/pagination/page.dto';
import { ImageDto } from './image.dto';

/**
 * A gallery page: 100 images by default, at most 500; by number (`page`) or, at any depth for the
 * cost of the first, after a `cursor`.
 */
export class GalleryQueryDto extends PageQuery({ defaultPerPage: 100, maxPerPage: 500 }) {
  /** `next_cursor` of the previous page (then `page` is not used): any depth, as fast as page 1. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}

/** The gallery in display order: the primary first, then priority ascending, then newest first. */
export class GalleryDto extends PageMetaDto {
  items!: ImageDto[];

  /** The gallery version; also the ETag to send back as If-Match. */
  @ApiProperty({ type: 'integer', minimum: 0, example: 3 })
  version!: number;
}

/** A page of the gallery as listed: by number or after a cursor, and the cursor of the next. */
export class GalleryPageDto extends GalleryDto {
  /** Pass as `cursor` for the next page; null on the last page. */
  @ApiProperty({ type: String, nullable: true })
  next_cursor!: string | null;
}

export class UpdateImageDto {
  @Optional()
  @IsString()
  @MaxLength(255)
  title?: string;

  @Optional()
  @IsString()
  @MaxLength(1000)
  alt_text?: string;

  /** Longer text about the image. */
  @Optional()
  @IsString()
  @MaxLength(5000)
  description?: string;

  /** true makes this the primary image (the previous one is demoted). */
  @Optional()
  @IsBoolean()
  is_primary?: boolean;

  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: 1_000_000 })
  @Optional()
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  priority?: number;
}

export class ReorderImagesDto {
  /** Every image of the product, exactly once, in the new order (ids or UUIDs). */
  @ApiProperty({ type: [String], example: ['9bYsGJZVNPTSbQeJxuSeuy', 'kYLvcQoew7krvywNq5hQZJ'] })
  @IsArray()
  @ArrayMaxSize(10_000)
  @IsString({ each: true })
  image_ids!: string[];
}

/** Attaches a stand-alone upload (`POST /api/v1/images`, purpose `product`) to the gallery. */
export class AttachImageDto extends UpdateImageDto {
  /** The id `POST /api/v1/images` answered with. */
  @ApiProperty({ example: '9bYsGJZVNPTSbQeJxuSeuy' })
  @IsString()
  @MaxLength(64)
  image_id!: string;
}
