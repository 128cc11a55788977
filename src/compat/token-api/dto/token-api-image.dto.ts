import { ApiProperty } from '@nestjs/swagger';
import { TOKEN_API_MODES, TOKEN_API_TYPES } from '../token-api-mapping';

/** The uploader of an image, as the token API shows users. */
export class TokenApiUserDto {
  @ApiProperty({
    type: 'integer',
    minimum: 0,
    description:
      "The user's number. 0 when no user is known: an upload with an API key that no existing " +
      'user created (made with the CLI, or its creator was deleted).',
    example: 7,
  })
  id!: number;

  @ApiProperty({ description: 'Empty when no user is known.', example: 'stella' })
  username!: string;

  @ApiProperty({
    description: "The user's full name; when no user is known, the API key's name.",
    example: 'Stella Example',
  })
  full_name!: string;
}

/** A product image as the token API ("Create Product Image") answers it: exactly these fields. */
export class TokenApiImageDto {
  @ApiProperty({ type: 'integer', minimum: 1, description: "The image's number.", example: 42 })
  id!: number;

  @ApiProperty({
    enum: TOKEN_API_TYPES,
    description: 'The format of the stored original (a BMP is stored as PNG).',
    example: 'JPEG',
  })
  type!: string;

  @ApiProperty({ type: TokenApiUserDto, description: 'Who uploaded the image.' })
  user!: TokenApiUserDto;

  @ApiProperty({ description: 'The original file name, as sent.', example: 'product_image.jpg' })
  name!: string;

  @ApiProperty({
    format: 'uri',
    description: 'URL of the stored original.',
    example:
      'https://cdn.example.com/products/0b6fTbXcWuVBqJ2xyFHhzw/9bYsGJZVNPTSbQeJxuSeuy/original.jpg',
  })
  f!: string;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    description: 'Bytes of the stored original.',
    example: 2621440,
  })
  size!: number;

  @ApiProperty({ description: "The image's description; empty when none.", example: '' })
  description!: string;

  @ApiProperty({ type: 'integer', minimum: 1, description: 'Pixels, as displayed.', example: 1200 })
  width!: number;

  @ApiProperty({ type: 'integer', minimum: 1, description: 'Pixels, as displayed.', example: 900 })
  height!: number;

  @ApiProperty({ description: '`size`, 1024-based.', example: '2.5 MB' })
  human_readable_size!: string;

  @ApiProperty({
    enum: TOKEN_API_MODES,
    description:
      'The colour mode of the upload, as image libraries (PIL) name it: `RGB`, `RGBA`, `CMYK`, ' +
      '`L` (grey), `LA` (grey and alpha), `P` (palette: every GIF).',
    example: 'RGB',
  })
  mode!: string;

  @ApiProperty({ type: String, format: 'date-time', example: '2026-11-22T10:15:00.000Z' })
  created_at!: Date;

  @ApiProperty({ type: String, format: 'date-time', example: '2026-11-22T10:15:00.000Z' })
  updated_at!: Date;
}
