import { ApiProperty } from '@nestjs/swagger';
import type { StandaloneImageDto } from '../../../images/dto/standalone-image.dto';
import { typeNumber } from '../inventorum-form';

const URL_EXAMPLE = 'https://images.example.com/media/uploads/0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e';

/** Inventorum's answer to `POST /api/images/`: the new image's number, URLs and type. */
export class InventorumImageDto {
  @ApiProperty({
    type: 'integer',
    format: 'int64',
    minimum: 1,
    example: 752729,
    description: "The image's number (the service's ids are UUIDs; this is its integer one).",
  })
  id!: number;

  @ApiProperty({
    required: true,
    allOf: [
      {
        type: 'object',
        required: ['original', 'image'],
        properties: {
          original: { type: 'string', format: 'uri', description: 'The original.' },
          image: {
            type: 'string',
            format: 'uri',
            description:
              "A display size: the largest rendition of IMAGE_RENDITIONS (as Inventorum's is " +
              'its `ipad` rendition), or the original where there is none.',
          },
        },
        additionalProperties: { type: 'string', format: 'uri' },
      },
    ],
    description:
      '`original`, `image` (a display size, as in Inventorum, where it is the `ipad` rendition: ' +
      'here the largest rendition of IMAGE_RENDITIONS, or the original where there is none) ' +
      'and each rendition of IMAGE_RENDITIONS by its name.',
    example: {
      original: `${URL_EXAMPLE}/original.jpg`,
      image: `${URL_EXAMPLE}/large.webp`,
      thumb: `${URL_EXAMPLE}/thumb.webp`,
      card: `${URL_EXAMPLE}/card.webp`,
      large: `${URL_EXAMPLE}/large.webp`,
    },
  })
  urls!: Record<string, string>;

  @ApiProperty({
    type: 'integer',
    enum: [0, 1, 2, 3],
    example: 0,
    description: 'The `type` sent: product 0, account 1, user 2, category 3.',
  })
  type!: number;

  @ApiProperty({ type: 'boolean', enum: [true], description: 'Always true.' })
  new!: true;

  /** `image` is the rendition named `display`, or the original where it has none. */
  static from(number: number, image: StandaloneImageDto, display: string): InventorumImageDto {
    return {
      id: number,
      urls: {
        ...image.renditions,
        original: image.url,
        image: image.renditions[display] ?? image.url,
      },
      type: typeNumber(image.purpose),
      new: true,
    };
  }
}
