import { ApiProperty } from '@nestjs/swagger';
import type { StandaloneImageDto } from '../../../images/dto/standalone-image.dto';
import { typeNumber } from '../inventorum-form';
import { INVENTORUM_URL_KEYS, type InventorumUrlNames } from '../inventorum-urls';

const URL_EXAMPLE = 'https://images.example.com/media/uploads/0b6f8e1c-8a5e-4a53-9d8e-1f2a3b4c5d6e';

/** `urls` of an answer with the default renditions (thumb, card, large). */
export const URLS_EXAMPLE = {
  thumb: `${URL_EXAMPLE}/thumb.webp`,
  thumb_retina: `${URL_EXAMPLE}/card.webp`,
  ipad: `${URL_EXAMPLE}/large.webp`,
  ipad_retina: `${URL_EXAMPLE}/original.jpg`,
  ebay: `${URL_EXAMPLE}/large.webp`,
  card: `${URL_EXAMPLE}/card.webp`,
  large: `${URL_EXAMPLE}/large.webp`,
  original: `${URL_EXAMPLE}/original.jpg`,
  image: `${URL_EXAMPLE}/large.webp`,
};

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
        required: ['original', 'image', ...INVENTORUM_URL_KEYS],
        properties: {
          original: { type: 'string', format: 'uri', description: 'The original.' },
          image: {
            type: 'string',
            format: 'uri',
            description:
              "A display size: the largest rendition of IMAGE_RENDITIONS (as Inventorum's is " +
              'its `ipad` rendition), or the original where there is none.',
          },
          thumb: { type: 'string', format: 'uri', description: 'The smallest rendition.' },
          thumb_retina: {
            type: 'string',
            format: 'uri',
            description: 'The smallest rendition at least twice `thumb` (else the largest).',
          },
          ipad: { type: 'string', format: 'uri', description: 'As `image`.' },
          ipad_retina: { type: 'string', format: 'uri', description: 'The original.' },
          ebay: { type: 'string', format: 'uri', description: 'The largest rendition.' },
        },
        additionalProperties: { type: 'string', format: 'uri' },
      },
    ],
    description:
      '`original`, `image` (a display size, as in Inventorum, where it is the `ipad` rendition: ' +
      'here the largest rendition of IMAGE_RENDITIONS, or the original where there is none), ' +
      "Inventorum's own keys (`thumb`, `thumb_retina`, `ipad`, `ipad_retina`, `ebay`), each the " +
      'configured rendition nearest its purpose, and each rendition of IMAGE_RENDITIONS by its ' +
      'name (a rendition named as one of those keys answers it).',
    example: URLS_EXAMPLE,
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

  /**
   * Inventorum's keys (and `image`) from the renditions `names` gives them, or the original where
   * it gives none; then every rendition by its own name, which wins over a key of the same name.
   */
  static from(
    number: number,
    image: StandaloneImageDto,
    names: InventorumUrlNames,
  ): InventorumImageDto {
    const urlOf = (name: string | undefined) =>
      (name !== undefined && image.renditions[name]) || image.url;
    const keyed = Object.fromEntries(INVENTORUM_URL_KEYS.map((key) => [key, urlOf(names[key])]));
    return {
      id: number,
      urls: {
        ...keyed,
        ...image.renditions,
        original: image.url,
        image: urlOf(names.image),
      },
      type: typeNumber(image.purpose),
      new: true,
    };
  }
}
