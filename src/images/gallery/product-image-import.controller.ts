import { Body, Controller, Headers, Injectable, Put, Res } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Ctx, MinRole, RequireScopes } from '../../auth/decorators';
import type { RequestContext } from '../../auth/principal';
import { Role, Scope } from '../../auth/roles';
import { DATA_URI_BODY } from '../../common/http/json-body.parser';
import { parseIfMatch, versionEtag } from '../../common/http/version-etag';
import { ApiProblems, PROBLEMS } from '../../openapi/problems';
import { ApiResponseHeaders } from '../../openapi/response-headers';
import { Idempotent } from '../../idempotency/idempotent.decorator';
import { ProductParam } from '../../products/product-param.decorator';
import type { ProductRef } from '../../products/products.service';
import { ImportedImageDto, ImportImageDto } from '../dto/import-image.dto';
import { ImagesService } from '../images.service';
import { IMAGE_IN_JSON } from '../intake/busy-upload.hook';
import { GALLERY_IF_MATCH } from './gallery-if-match.header';

/**
 * The Ocha API's product image from JSON, under `products/:productId/image`,
 * `products/by-gtin/:gtin/image` and `products/by-external-id/:externalId/image`.
 */
@Injectable() // only so that its constructor's parameter types are emitted for the subclasses
abstract class ProductImageImportRoutes {
  constructor(private readonly images: ImagesService) {}

  @Put()
  @MinRole(Role.Admin)
  @RequireScopes(Scope.ImagesWrite)
  @RouteConfig({ ...DATA_URI_BODY, ...IMAGE_IN_JSON })
  @Idempotent()
  @ApiHeader(GALLERY_IF_MATCH)
  @ApiResponseHeaders('ETag')
  @ApiOperation({
    summary: "Set the product's image from a data URI or a URL (the Ocha API)",
    description:
      'The image is cropped to 500×500 around its most interesting part and becomes the primary ' +
      'image, replacing the image set this way before (its files are deleted). A URL is fetched ' +
      'by the service: public addresses and allowed ports only, at most 3 redirects, within ' +
      'IMPORT_TIMEOUT_MS; any failure is 400 image_url_unreachable. Admins only. The answer is ' +
      "the product, with the Ocha API's `message` and `imageUrl` (the same URL as `image`), and " +
      "the gallery's new ETag, as every gallery change answers (an If-Match naming an older " +
      'version is 412 gallery_changed, before anything is fetched when it is already stale).',
  })
  @ApiProblems(
    ...PROBLEMS.jsonBody,
    'invalid_image_source',
    'invalid_data_uri',
    'image_type_mismatch',
    'image_url_unreachable',
    'unsupported_image_type',
    'unsafe_svg',
    'invalid_image',
    'image_too_many_pixels',
    'image_too_complex',
    'file_too_large',
    'server_busy',
    'storage_unavailable',
    'upload_spool_full',
    'upload_spool_unavailable',
    'gallery_changed',
  )
  async importProductImage(
    @Ctx() ctx: RequestContext,
    @ProductParam() product: ProductRef,
    @Body() body: ImportImageDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ImportedImageDto> {
    const imported = await this.images.importPrimary(
      ctx,
      product,
      body.image,
      parseIfMatch(ifMatch),
    );
    reply.header('etag', versionEtag(imported.galleryVersion));
    return ImportedImageDto.fromProduct(imported.product);
  }
}

@ApiTags('images')
@Controller('products/:productId/image')
export class ProductImageImportController extends ProductImageImportRoutes {}

@ApiTags('images')
@Controller('products/by-gtin/:gtin/image')
export class ProductImageImportByGtinController extends ProductImageImportRoutes {}

@ApiTags('images')
@Controller('products/by-external-id/:externalId/image')
export class ProductImageImportByExternalIdController extends ProductImageImportRoutes {}
