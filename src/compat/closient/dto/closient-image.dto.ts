import { ApiProperty } from '@nestjs/swagger';
import { SHORT_ID_LENGTH, SHORT_ID_PATTERN } from '../../../common/ids/short-id';

/** An image of a trade item as Closient answers it: exactly these fields. */
export class ClosientImageDto {
  @ApiProperty({
    minLength: SHORT_ID_LENGTH,
    maxLength: SHORT_ID_LENGTH,
    pattern: SHORT_ID_PATTERN,
    description:
      "The image's id: the 22-character shortuuid of its UUID (the main API's image id; the " +
      'canonical UUID is accepted wherever an id is read).',
    example: '9bYsGJZVNPTSbQeJxuSeuy',
  })
  id!: string;

  @ApiProperty({
    maxLength: 255,
    description: 'Caption / role label; empty when not set.',
    example: 'Front of package',
  })
  title!: string;

  @ApiProperty({
    description: "True for the product's single hero image.",
    example: true,
  })
  is_primary!: boolean;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    description:
      'Display order: lower first, ties newest first, the primary image always first. A new ' +
      'image goes after the last one.',
    example: 1,
  })
  priority!: number;

  @ApiProperty({
    type: String,
    format: 'date-time',
    description: 'When the image was uploaded (UTC).',
    example: '2023-11-07T05:31:56.000Z',
  })
  created!: Date;

  @ApiProperty({
    format: 'uri',
    description: 'Absolute URL of the original (non-resized) image on the configured storage.',
    example:
      'https://cdn.example.com/products/0b6fTbXcWuVBqJ2xyFHhzw/9bYsGJZVNPTSbQeJxuSeuy/original.jpg',
  })
  image_url!: string;
}
