import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { QueryInteger } from '../../common/http/form-values';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsInt,
  IsOptional,
  IsString,
  Max,
  Min,
} from 'class-validator';
import { MaxLength } from '../../common/http/max-length';
import { Optional, Trimmed } from '../../common/http/validation';
import { MAX_PAGE, PageMetaDto, PageQuery } from '../../common/pagination/page.dto';
import { ImageDto } from './image.dto';
import { EmptyOrNameText, EmptyOrVisibleMultilineText } from '../../common/http/display-text';

/**
 * The highest priority a request may give an image, and the service ever gives one: an image
 * placed after one at this priority has its gallery's priorities renumbered first (see
 * GalleryService.place), so that every image can be saved back as it was read.
 */
export const MAX_PRIORITY = 1_000_000;

/**
 * How deep a gallery page by number may start: at most this many images before it
 * (`(page - 1) × per_page`). An OFFSET makes the database step over every row before the page, so
 * a deep page by number costs in proportion to its depth (223× a 10-image gallery's at 100,000
 * images); a `cursor` reads any depth from the index for the cost of the first page.
 */
export const MAX_GALLERY_PAGE_DEPTH = 1_000;

const PAGE_RULE = `page must be an integer from 1 to ${MAX_PAGE}`;

/**
 * A gallery page: 100 images by default, at most 500; by number (`page`, at most
 * {@link MAX_GALLERY_PAGE_DEPTH} images deep) or, at any depth for the cost of the first, after a
 * `cursor`.
 */
export class GalleryQueryDto extends PageQuery({ defaultPerPage: 100, maxPerPage: 500 }) {
  // PageQuery's `page`, its rules unchanged, with the gallery's depth limit in its description.
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: MAX_PAGE,
    default: 1,
    description:
      `1-based page number. A page by number starts at most ${MAX_GALLERY_PAGE_DEPTH} images ` +
      `deep: \`(page - 1) × per_page\` above ${MAX_GALLERY_PAGE_DEPTH} is 400 \`page_too_deep\`. ` +
      'To read further, follow `next_cursor` (pass it as `cursor`), which reads any depth as fast ' +
      'as the first page.',
  })
  @IsOptional()
  @QueryInteger()
  @IsInt({ message: PAGE_RULE })
  @Min(1, { message: PAGE_RULE })
  @Max(MAX_PAGE, { message: PAGE_RULE })
  declare page: number;

  /** `next_cursor` of the previous page (then `page` is not used): any depth, as fast as page 1. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}

/** The gallery in display order: the primary first, then priority ascending, then newest first. */
export class GalleryDto extends PageMetaDto {
  items!: ImageDto[];

  /**
   * The gallery version, which moves on with every change of the gallery to a number never handed
   * out before, to any product or gallery (not by 1); also the ETag to send back as If-Match.
   */
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
  @Trimmed()
  @IsString()
  @MaxLength(255)
  @EmptyOrNameText()
  title?: string;

  @Optional()
  @Trimmed()
  @IsString()
  @MaxLength(1000)
  @EmptyOrNameText()
  alt_text?: string;

  /** Longer text about the image. */
  @Optional()
  @IsString()
  @MaxLength(5000)
  @EmptyOrVisibleMultilineText()
  description?: string;

  /** true makes this the primary image (the previous one is demoted). */
  @Optional()
  @IsBoolean()
  is_primary?: boolean;

  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: MAX_PRIORITY })
  @Optional()
  @IsInt()
  @Min(0)
  @Max(MAX_PRIORITY)
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
