import { ApiProperty } from '@nestjs/swagger';
import { encodeShortId } from '../../common/ids/short-id';
import { ImagePurpose, type Image } from '../entities/image.entity';
import { humanReadableSize } from '../processing/human-size';
import type { ImageUrls } from '../image-files.service';

export class RenditionDto {
  /** @example 'https://cdn.example.com/products/0b6f…/7c9e…/card.webp' */
  url!: string;
  @ApiProperty({ type: 'integer', example: 500 })
  width!: number;
  @ApiProperty({ type: 'integer', example: 500 })
  height!: number;

  /** `webp`, or `auto` where the storage picks the best format for each browser (Cloudinary). */
  @ApiProperty({ example: 'webp' })
  format!: string;

  /** Bytes; null where the storage makes the rendition on delivery (Cloudinary). */
  @ApiProperty({ type: 'integer', nullable: true, example: 10240 })
  size!: number | null;
}

/** One srcset per format: `url 320w, url 480w, …`, for `<source>` and `<img>`. */
export class SrcsetDto {
  /** @example 'https://images.example.com/transform/9gW1cX…/w_512,h_512,c_attention,f_avif/9bYsGJZVNPTSbQeJxuSeuy 512w, https://images.example.com/transform/Vq0e2b…/w_800,h_800,c_attention,f_avif/9bYsGJZVNPTSbQeJxuSeuy 800w' */
  avif!: string;
  /** @example 'https://images.example.com/transform/Qa8dKx…/w_512,h_512,c_attention,f_webp/9bYsGJZVNPTSbQeJxuSeuy 512w' */
  webp!: string;
  /** In `type`'s format. @example 'https://images.example.com/transform/mB3ePz…/w_512,h_512,c_attention,f_jpeg/9bYsGJZVNPTSbQeJxuSeuy 512w' */
  fallback!: string;
}

/**
 * A rendition preset of the image as `<picture>` wants it: the sizes it is made at (1×, 1.5×, 2×,
 * on the width ladder, never beyond the original) in AVIF, WebP and a fallback format, and the
 * 1× size for the `<img>`'s width and height. The URLs are transform URLs (signed), or the
 * storage's own where it makes results itself (Cloudinary).
 */
export class ResponsiveImageDto {
  @ApiProperty({ type: 'integer', example: 512 })
  width!: number;
  @ApiProperty({ type: 'integer', example: 512 })
  height!: number;
  /**
   * The fallback at 1×, for `<img src>`.
   * @example 'https://images.example.com/transform/mB3ePz…/w_512,h_512,c_attention,f_jpeg/9bYsGJZVNPTSbQeJxuSeuy'
   */
  src!: string;
  /** The fallback's media type. */
  @ApiProperty({ enum: ['image/jpeg', 'image/png', 'image/gif'] })
  type!: string;
  srcset!: SrcsetDto;
}

export class UploaderDto {
  /** @example 'kYLvcQoew7krvywNq5hQZJ' */
  id!: string;
  /** @example 'stella' */
  username!: string;
  /** @example 'Stella Example' */
  full_name!: string;
}

export class ImageDto {
  /** @example '9bYsGJZVNPTSbQeJxuSeuy' */
  id!: string;

  /** Null for a stand-alone upload not attached yet. */
  @ApiProperty({ type: String, nullable: true, example: 'kYLvcQoew7krvywNq5hQZJ' })
  product_id!: string | null;

  @ApiProperty({ enum: ImagePurpose })
  purpose!: ImagePurpose;

  /** @example 'Front of package' */
  title!: string;
  /** @example 'Blue running shoe, side view' */
  alt_text!: string;
  /** @example 'Mesh upper, foam sole; shown in the colour "ocean".' */
  description!: string;
  /** @example true */
  is_primary!: boolean;
  @ApiProperty({ type: 'integer', example: 0 })
  priority!: number;
  /** @example 'front.jpg' */
  original_filename!: string;

  @ApiProperty({ enum: ['jpeg', 'png', 'gif', 'webp', 'avif', 'svg'] })
  format!: string;

  @ApiProperty({ example: 'image/jpeg' })
  mime_type!: string;

  /** As displayed (after EXIF orientation). */
  @ApiProperty({ type: 'integer', example: 1200 })
  width!: number;
  @ApiProperty({ type: 'integer', example: 900 })
  height!: number;

  /** Bytes of the stored original. */
  @ApiProperty({ type: 'integer', example: 245760 })
  size!: number;

  @ApiProperty({ example: '2.5 MB' })
  human_readable_size!: string;

  @ApiProperty({ enum: ['RGB', 'RGBA', 'CMYK', 'GRAYSCALE', 'GRAYSCALE_ALPHA'] })
  color_mode!: string;

  /** @example false */
  has_alpha!: boolean;

  /**
   * SHA-256 (hex) of the stored original.
   * @example '3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b'
   */
  sha256!: string;

  /**
   * The original, re-encoded without metadata.
   * @example 'https://cdn.example.com/products/0b6f…/7c9e…/original.jpg'
   */
  url!: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: '#/components/schemas/RenditionDto' },
  })
  renditions!: Record<string, RenditionDto>;

  /** Per rendition preset, the image ready for `<picture>` (see the README's example). */
  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: '#/components/schemas/ResponsiveImageDto' },
  })
  responsive!: Record<string, ResponsiveImageDto>;

  @ApiProperty({ type: UploaderDto, nullable: true })
  uploaded_by!: UploaderDto | null;

  /** @example '2026-11-22T10:15:00.000Z' */
  created_at!: Date;
  /** @example '2026-11-22T10:15:00.000Z' */
  updated_at!: Date;

  static from(
    image: Image,
    urls: ImageUrls,
    uploader: UploaderDto | null,
    responsive: Record<string, ResponsiveImageDto>,
  ): ImageDto {
    return {
      id: encodeShortId(image.id),
      product_id: image.productId ? encodeShortId(image.productId) : null,
      purpose: image.purpose,
      title: image.title,
      alt_text: image.altText,
      description: image.description,
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
      responsive,
      uploaded_by: uploader,
      created_at: image.createdAt,
      updated_at: image.updatedAt,
    };
  }
}
