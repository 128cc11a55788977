import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MinLength, ValidateIf } from 'class-validator';
import { MaxLength } from '../../common/http/max-length';
import { Optional, Trimmed } from '../../common/http/validation';
import { encodeShortId } from '../../common/ids/short-id';
import { CursorQueryDto } from '../../common/pagination/cursor-query.dto';
import type { Product } from '../entities/product.entity';
import {
  EXTERNAL_ID_MAX_LENGTH,
  EXTERNAL_ID_PATTERN_SOURCE,
  EXTERNAL_ID_RULE,
  IsExternalId,
} from '../external-id';
import type { ProductImageSummary } from '../product-images.port';
import { SLUG_MAX_LENGTH, SLUG_PATTERN } from '../slug';
import { EmptyOrVisibleMultilineText } from '../../common/http/display-text';
import { NAME_TEXT_PATTERN, NameText } from '../../common/http/display-text';

/** The OpenAPI schema of an external id, wherever one is sent. */
const EXTERNAL_ID_SCHEMA = {
  type: String,
  minLength: 1,
  maxLength: EXTERNAL_ID_MAX_LENGTH,
  pattern: EXTERNAL_ID_PATTERN_SOURCE,
} as const;

export class CreateProductDto {
  @ApiProperty({
    minLength: 1,
    maxLength: 200,
    // Checked once trimmed: showing something (not blank, not only invisible), no control character.
    pattern: NAME_TEXT_PATTERN,
    description:
      'Surrounding white space is trimmed; not blank, nor only invisible characters (zero-width ' +
      'spaces, bidi controls…) or combining marks.',
  })
  @Trimmed()
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  @NameText()
  name!: string;

  @ApiPropertyOptional({
    example: 'blue-shoe',
    pattern: SLUG_PATTERN.source,
    maxLength: SLUG_MAX_LENGTH,
    description:
      'Unique in your organisation; made from the name when left out. Lower-case letters (a-z) ' +
      'and digits, in words joined by single hyphens (`blue-shoe-42`).',
  })
  @Optional()
  @IsString()
  @MaxLength(SLUG_MAX_LENGTH)
  @Matches(SLUG_PATTERN, { message: 'slug must be lower-case letters and digits separated by "-"' })
  slug?: string;

  /** GTIN-8, -12, -13 or -14 with a valid check digit; stored as GTIN-14. */
  @ApiPropertyOptional({ example: '4006381333931', nullable: true, type: String })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsString()
  gtin?: string | null;

  @Optional()
  @IsString()
  @MaxLength(10_000)
  @EmptyOrVisibleMultilineText()
  description?: string;

  @ApiPropertyOptional({
    ...EXTERNAL_ID_SCHEMA,
    nullable: true,
    example: '4711',
    description:
      'Your own id for the product (for example your shop’s product id), unique in your ' +
      `organisation: ${EXTERNAL_ID_RULE}. The product can then be addressed as ` +
      '`/api/v1/products/by-external-id/{external_id}` (percent-encoded). null clears it.',
  })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsExternalId()
  external_id?: string | null;
}

export class UpdateProductDto extends PartialType(CreateProductDto, {
  skipNullProperties: false,
}) {}

export class ListProductsQueryDto extends CursorQueryDto {
  @IsOptional()
  @IsString()
  @MaxLength(100)
  slug?: string;

  /** Any of the four GTIN lengths. */
  @IsOptional()
  @IsString()
  @MaxLength(14)
  gtin?: string;

  @ApiPropertyOptional({ ...EXTERNAL_ID_SCHEMA, description: 'Exactly this external id.' })
  @IsOptional()
  @IsExternalId()
  external_id?: string;
}

export class ImageSummaryDto implements ProductImageSummary {
  /** @example '9bYsGJZVNPTSbQeJxuSeuy' */
  id!: string;
  /** @example 'https://cdn.example.com/products/0b6f…/7c9e…/original.jpg' */
  url!: string;
  /** @example 'Blue running shoe, side view' */
  alt_text!: string;
  @ApiProperty({ type: 'integer', example: 1200 })
  width!: number;

  @ApiProperty({ type: 'integer', example: 900 })
  height!: number;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    description: 'Rendition name → URL.',
    example: { thumb: 'https://cdn.example.com/products/0b6f…/7c9e…/thumb.webp' },
  })
  renditions!: Record<string, string>;
}

export class ProductDto {
  /** @example 'kYLvcQoew7krvywNq5hQZJ' */
  id!: string;
  /** @example 'Blue Shoe' */
  name!: string;
  /** @example 'blue-shoe' */
  slug!: string;

  @ApiProperty({ type: String, nullable: true, example: '04006381333931' })
  gtin!: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: '4711',
    description: 'Your own id for the product, or null.',
  })
  external_id!: string | null;

  /** @example 'A light running shoe.' */
  description!: string;

  @ApiProperty({ type: ImageSummaryDto, nullable: true })
  primary_image!: ImageSummaryDto | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'https://cdn.example.com/products/0b6f…/7c9e…/original.jpg',
    description:
      "The primary image's original URL (`primary_image.url`; the Ocha API's `image`), or null " +
      'when the gallery is empty.',
  })
  image!: string | null;

  @ApiProperty({ type: 'integer', example: 3 })
  image_count!: number;

  @ApiProperty({
    type: 'integer',
    minimum: 1,
    example: 4,
    description:
      'Moves on with every change to the product’s own fields, to a number never handed out ' +
      'before, to any product (not by 1); also its `ETag` (`"p4"`), to send back as `If-Match` ' +
      'when changing or deleting it. Gallery changes leave it alone: the gallery has its own ' +
      'version.',
  })
  version!: number;

  /** @example '2026-11-22T10:00:00.000Z' */
  created_at!: Date;
  /** @example '2026-11-22T10:15:00.000Z' */
  updated_at!: Date;

  static from(
    product: Product,
    primary: ProductImageSummary | null,
    imageCount: number,
  ): ProductDto {
    return {
      id: encodeShortId(product.id),
      name: product.name,
      slug: product.slug,
      gtin: product.gtin,
      external_id: product.externalId,
      description: product.description,
      primary_image: primary,
      image: primary?.url ?? null,
      image_count: imageCount,
      version: product.version,
      created_at: product.createdAt,
      updated_at: product.updatedAt,
    };
  }
}

export class ProductPageDto {
  items!: ProductDto[];

  /** Pass as `cursor` for the next page; null on the last page. */
  @ApiProperty({ type: String, nullable: true })
  next_cursor!: string | null;
}
