import { Controller, Get, Param, Post } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Ctx, MinRole, RequireScopes } from '../auth/decorators';
import type { RequestContext } from '../auth/principal';
import { Role, Scope } from '../auth/roles';
import { ParseIdPipe } from '../common/ids/parse-id.pipe';
import { ImageDto } from './dto/image.dto';
import { ImageUploadPipe, MultipartBody } from './image-upload.pipe';
import { ImagesService } from './images.service';
import type { ImageUpload } from './multipart-upload';

const UPLOAD_BODY = {
  schema: {
    type: 'object',
    required: ['image'],
    properties: {
      image: {
        type: 'string',
        format: 'binary',
        description: 'JPEG, PNG, GIF, WebP, AVIF, BMP (stored as PNG) or SVG (sanitised).',
      },
      title: { type: 'string', maxLength: 255 },
      alt_text: { type: 'string', maxLength: 1000 },
      is_primary: { type: 'boolean', default: false },
      priority: { type: 'integer', minimum: 0, description: 'Default: after the last image.' },
    },
  },
};

@ApiTags('images')
@Controller('products')
export class ProductImagesController {
  constructor(private readonly images: ImagesService) {}

  @Post(':productId/images')
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ImagesWrite)
  @ApiConsumes('multipart/form-data')
  @ApiBody(UPLOAD_BODY)
  @ApiOperation({ operationId: 'uploadProductImage', summary: 'Upload an image to a product' })
  upload(
    @Ctx() ctx: RequestContext,
    @Param('productId', ParseIdPipe) productId: string,
    @MultipartBody(ImageUploadPipe) upload: ImageUpload,
  ): Promise<ImageDto> {
    return this.images.upload(ctx, { id: productId }, upload);
  }

  @Post('by-gtin/:gtin/images')
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ImagesWrite)
  @ApiConsumes('multipart/form-data')
  @ApiBody(UPLOAD_BODY)
  @ApiOperation({
    operationId: 'uploadProductImageByGtin',
    summary: 'Upload an image to a product found by GTIN',
  })
  uploadByGtin(
    @Ctx() ctx: RequestContext,
    @Param('gtin') gtin: string,
    @MultipartBody(ImageUploadPipe) upload: ImageUpload,
  ): Promise<ImageDto> {
    return this.images.upload(ctx, { gtin }, upload);
  }

  @Get(':productId/images/:imageId')
  @RequireScopes(Scope.ImagesRead)
  @ApiOperation({ operationId: 'getProductImage', summary: 'Get an image of a product' })
  get(
    @Ctx() ctx: RequestContext,
    @Param('productId', ParseIdPipe) productId: string,
    @Param('imageId', ParseIdPipe) imageId: string,
  ): Promise<ImageDto> {
    return this.images.get(ctx, { id: productId }, imageId);
  }
}
