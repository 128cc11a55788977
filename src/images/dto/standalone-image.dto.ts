import { ApiProperty } from '@nestjs/swagger';
import { encodeShortId } from '../../common/ids/short-id';
import { ImagePurpose, type Image } from '../entities/image.entity';
import type { ImageUrls } from '../image-urls';

/** A stand-alone upload (Inventorum and the back-office uploader), until it is attached to a product. */
export class StandaloneImageDto {
  /**
   * Give it as `image_id` to `POST /api/v1/products/{id}/images/attach` to attach it.
   * @example '9bYsGJZVNPTSbQeJxuSeuy'
   */
  id!: string;

  /** The original's storage key. */
  @ApiProperty({ example: 'uploads/0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e/original.png' })
  key!: string;

  /**
   * The original.
   * @example 'https://cdn.example.com/uploads/0b6f…/original.png'
   */
  url!: string;

  @ApiProperty({ enum: ImagePurpose })
  purpose!: ImagePurpose;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    description: 'Rendition name → URL.',
    example: { thumb: 'https://cdn.example.com/uploads/…/thumb.webp' },
  })
  renditions!: Record<string, string>;

  @ApiProperty({ enum: ['jpeg', 'png', 'gif', 'webp', 'avif', 'svg'] })
  format!: string;

  /** @example 800 */
  width!: number;
  /** @example 600 */
  height!: number;

  /**
   * Bytes of the stored original.
   * @example 183040
   */
  size!: number;

  /** @example '2026-11-22T10:15:00.000Z' */
  created_at!: Date;

  /**
   * When it is deleted unless attached to a product first (UNATTACHED_IMAGE_TTL).
   * @example '2026-11-23T10:15:00.000Z'
   */
  expires_at!: Date;

  static from(image: Image, urls: ImageUrls, ttlMs: number): StandaloneImageDto {
    return {
      id: encodeShortId(image.id),
      key: image.storageKey,
      url: urls.original,
      purpose: image.purpose,
      renditions: urls.renditions,
      format: image.format,
      width: image.width,
      height: image.height,
      size: image.size,
      created_at: image.createdAt,
      expires_at: new Date(image.createdAt.getTime() + ttlMs),
    };
  }
}
