import { ApiProperty } from '@nestjs/swagger';
import { IsString, MinLength } from 'class-validator';
import { ProductDto } from '../../products/dto/product.dto';

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

/** What the Ocha API's original answers this route with, beside the product. */
export const IMPORTED_MESSAGE = 'Image uploaded successfully';

/**
 * The product, with its new image in `image`; and, as the Ocha API answers, `message` and
 * `imageUrl` (the same URL), so that its clients, which read `imageUrl`, find it.
 */
export class ImportedImageDto extends ProductDto {
  /** Always this text (the Ocha API's). @example 'Image uploaded successfully' */
  message!: string;

  /**
   * The image's URL, as `image` (the Ocha API's name for it, in its camel case).
   * @example 'https://cdn.example.com/media/products/kYLvcQoew7krvywNq5hQZJ/original.jpg'
   */
  imageUrl!: string;

  static fromProduct(product: ProductDto): ImportedImageDto {
    return Object.assign(new ImportedImageDto(), product, {
      message: IMPORTED_MESSAGE,
      imageUrl: product.image ?? '',
    });
  }
}
