import { ApiProperty } from '@nestjs/swagger';
import { IsString, MinLength } from 'class-validator';

/** The Ocha API: the product's image, as a data URI or a public URL the service fetches. */
export class ImportImageDto {
  @ApiProperty({
    description:
      'A `data:image/<type>;base64,<payload>` URI, or a public http(s) URL of the image (fetched by ' +
      'the service: public addresses and allowed ports only, at most 3 redirects).',
    example: 'https://images.example.com/blue-shoe.jpg',
  })
  @IsString()
  @MinLength(1)
  image!: string;
}
