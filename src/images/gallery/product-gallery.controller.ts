import { imageUploadBody } from '../../openapi/upload-body';
import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Injectable,
  Param,
  Patch,
  Post,
  Put,
  Query,
  Res,
} from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiHeader,
  ApiOperation,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyReply } from 'fastify';
import { ApiResponseHeaders } from '../../openapi/response-headers';
import { CreatedLocation, siblingOfAction } from '../../common/http/created-location';
import { Ctx, MinRole, RequireScopes } from '../../auth/decorators';
import type { RequestContext } from '../../auth/principal';
import { Role, Scope } from '../../auth/roles';
import { ParseIdPipe } from '../../common/ids/parse-id.pipe';
import type { ProductRef } from '../../products/products.service';
import { PRODUCT_BEFORE_BODY } from './product-before-body.hook';
import {
  AttachImageDto,
  GalleryDto,
  GalleryPageDto,
  GalleryQueryDto,
  MAX_GALLERY_PAGE_DEPTH,
  ReorderImagesDto,
  UpdateImageDto,
} from '../dto/gallery.dto';
import { ImageDto } from '../dto/image.dto';
import { GalleryService } from './gallery.service';
import { galleryPageJson, JSON_CONTENT_TYPE } from './gallery-page-json';
import { MultipartRequest } from '../../common/http/multipart-routes';
import { GalleryAdditionPipe, type GalleryAddition } from './gallery-addition.pipe';
import { IMAGE_IN_MULTIPART } from '../intake/busy-upload.hook';
import { ImagesService } from '../images.service';
import { ProductParam } from '../../products/product-param.decorator';
import { versionEtag, parseIfMatch } from '../../common/http/version-etag';
import { ApiProblems, PROBLEMS } from '../../openapi/problems';
import { Idempotent } from '../../idempotency/idempotent.decorator';
import { IdempotentUpload } from '../../idempotency/idempotent-body.pipe';
import { GALLERY_IF_MATCH } from './gallery-if-match.header';
import { IMAGE_ETAG, IMAGE_IF_NONE_MATCH, NOT_MODIFIED } from '../image-etag.header';
import { unlessNotModified } from '../../common/http/not-modified';
import {
  EMPTY_OR_NAME_TEXT_PATTERN,
  EMPTY_OR_VISIBLE_MULTILINE_TEXT_PATTERN,
} from '../../common/http/display-text';
import { MAX_PRIORITY } from '../dto/gallery.dto';

const UPLOAD_BODY = imageUploadBody({
  // Examples: Swagger UI's "Try it out" fills the form with them (else with "string").
  title: {
    type: 'string',
    maxLength: 255,
    pattern: EMPTY_OR_NAME_TEXT_PATTERN,
    example: 'Front of package',
  },
  alt_text: {
    type: 'string',
    maxLength: 1000,
    pattern: EMPTY_OR_NAME_TEXT_PATTERN,
    example: 'A blue running shoe, seen from the side',
  },
  description: {
    type: 'string',
    maxLength: 5000,
    pattern: EMPTY_OR_VISIBLE_MULTILINE_TEXT_PATTERN,
    example: 'Studio shot on a white background.',
  },
  is_primary: { type: 'boolean', default: false },
  priority: {
    type: 'integer',
    minimum: 0,
    maximum: MAX_PRIORITY,
    description: 'Default: after the last image.',
  },
});

/**
 * A product's gallery, under `products/:productId/images`, `products/by-gtin/:gtin/images` and
 * `products/by-external-id/:externalId/images` (the three controllers below). Operation ids are
 * the method names, `…ByGtin` for the second and `…ByExternalId` for the third.
 */
@Injectable() // only so that its constructor's parameter types are emitted for the subclasses
abstract class GalleryRoutes {
  constructor(
    private readonly images: ImagesService,
    private readonly gallery: GalleryService,
  ) {}

  @Post()
  @RouteConfig({ ...IMAGE_IN_MULTIPART, ...PRODUCT_BEFORE_BODY })
  @CreatedLocation()
  // Location too: the first extension applied (the lowest decorator) wins over CreatedLocation's.
  @ApiResponseHeaders('Location', 'ETag')
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ImagesWrite)
  @Idempotent()
  @ApiHeader(GALLERY_IF_MATCH)
  @ApiConsumes('multipart/form-data')
  @ApiBody(UPLOAD_BODY)
  @ApiOperation({
    summary: 'Upload an image to the gallery',
    description:
      'Answers the new gallery ETag. The route also takes `application/json` ' +
      '`{ "image_id": … }`, exactly as `attachProductImage` does (for clients of Inventorum and ' +
      'the back-office uploader); it is documented there, so that generated clients keep a file ' +
      'parameter here.',
  })
  @ApiProblems(...PROBLEMS.upload, ...PROBLEMS.jsonBody, ...PROBLEMS.attach, 'gallery_changed')
  async uploadProductImage(
    @Ctx() ctx: RequestContext,
    @ProductParam() product: ProductRef,
    @MultipartRequest(GalleryAdditionPipe, IdempotentUpload) addition: GalleryAddition,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ImageDto> {
    const { image, version } = await this.images.add(ctx, product, addition, parseIfMatch(ifMatch));
    reply.header('etag', versionEtag(version));
    return image;
  }

  @Post('attach')
  @CreatedLocation(siblingOfAction)
  @ApiResponseHeaders('Location', 'ETag')
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ImagesWrite)
  @Idempotent()
  @ApiHeader(GALLERY_IF_MATCH)
  @ApiOperation({
    summary: 'Attach a stand-alone upload to the gallery',
    description:
      'An image uploaded with `POST /api/v1/images` (purpose `product`, of your organisation, not ' +
      'yet attached) joins the gallery under the gallery rules; its files keep their keys. ' +
      'Answers the new gallery ETag.',
  })
  @ApiProblems(...PROBLEMS.jsonBody, ...PROBLEMS.attach, 'gallery_changed')
  async attachProductImage(
    @Ctx() ctx: RequestContext,
    @ProductParam() product: ProductRef,
    @Body() body: AttachImageDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ImageDto> {
    const { image, version } = await this.images.attach(ctx, product, body, parseIfMatch(ifMatch));
    reply.header('etag', versionEtag(version));
    return image;
  }

  @Get()
  @ApiResponseHeaders('ETag')
  @RequireScopes(Scope.ImagesRead)
  @ApiOperation({
    summary: 'The gallery in display order, with its ETag',
    description:
      'Primary first, then `priority` ascending, then newest first. `version` in the body and the ' +
      '`ETag` header name the gallery as read: send either back as `If-Match` when changing it. ' +
      `Pages by \`page\` up to ${MAX_GALLERY_PAGE_DEPTH} images deep (deeper is 400 ` +
      '`page_too_deep`), or by `cursor` (`next_cursor` of the page before), which reads any ' +
      'page as fast as the first. A reorder or a new primary between two pages moves images ' +
      'across the pages: send the first page’s ETag as `If-Match` with the next ones, and a ' +
      'gallery changed meanwhile answers 412 `gallery_changed` (start again from the first page).',
  })
  @ApiHeader(GALLERY_IF_MATCH)
  @ApiProblems(...PROBLEMS.validation, 'invalid_cursor', 'page_too_deep', 'gallery_changed')
  async listProductImages(
    @Ctx() ctx: RequestContext,
    @ProductParam() product: ProductRef,
    @Query() query: GalleryQueryDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<GalleryPageDto> {
    const gallery = await this.gallery.list(ctx, product, query, parseIfMatch(ifMatch));
    reply.header('etag', versionEtag(gallery.version));
    // The JSON JSON.stringify writes, each image's srcsets written once (gallery-page-json.ts).
    void reply.type(JSON_CONTENT_TYPE).serializer(galleryPageJson);
    return gallery;
  }

  @Get(':imageId')
  @RequireScopes(Scope.ImagesRead)
  @ApiHeader(IMAGE_IF_NONE_MATCH)
  @ApiOperation({
    summary: 'One image of the gallery',
    description:
      'The image with its renditions; 404 when it belongs to another product. Its `ETag` is weak ' +
      'and changes with anything the body shows: send it back as `If-None-Match` for `304 Not ' +
      'Modified` while the image reads the same (it is no gallery version: changes take the ' +
      'gallery’s `ETag` as `If-Match`).',
  })
  @ApiResponse({ status: 200, type: ImageDto, headers: { ETag: IMAGE_ETAG } })
  @ApiResponse({ status: 304, description: NOT_MODIFIED, headers: { ETag: IMAGE_ETAG } })
  async getProductImage(
    @Ctx() ctx: RequestContext,
    @ProductParam() product: ProductRef,
    @Param('imageId', ParseIdPipe) imageId: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ImageDto | undefined> {
    return unlessNotModified(reply, await this.images.get(ctx, product, imageId), ifNoneMatch);
  }

  @Patch(':imageId')
  @ApiResponseHeaders('ETag')
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ImagesWrite)
  @ApiHeader(GALLERY_IF_MATCH)
  @ApiOperation({
    summary: 'Change title, alt text, primary flag or priority',
    description:
      'Making an image primary demotes the previous one; the primary cannot be unmarked ' +
      '(make another one primary instead). Answers the new gallery ETag.',
  })
  @ApiProblems(...PROBLEMS.jsonBody, 'primary_required', 'gallery_changed')
  async updateProductImage(
    @Ctx() ctx: RequestContext,
    @ProductParam() product: ProductRef,
    @Param('imageId', ParseIdPipe) imageId: string,
    @Body() body: UpdateImageDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ImageDto> {
    const { image, version } = await this.gallery.update(
      ctx,
      product,
      imageId,
      body,
      parseIfMatch(ifMatch),
    );
    reply.header('etag', versionEtag(version));
    return image;
  }

  @Put('order')
  @ApiResponseHeaders('ETag')
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ImagesWrite)
  @ApiHeader(GALLERY_IF_MATCH)
  @ApiOperation({
    summary: 'Reorder: name every image once; priorities become 0..n-1',
    description:
      'A list that does not name exactly the gallery’s images is refused and nothing changes. ' +
      'The order the priorities already give changes nothing (priorities and version stay). ' +
      'The primary image stays first. At most 10,000 ids: a larger gallery is ordered by ' +
      'setting the `priority` of the images to move (PATCH).',
  })
  @ApiProblems(...PROBLEMS.jsonBody, 'invalid_image_order', 'gallery_changed')
  async reorderProductImages(
    @Ctx() ctx: RequestContext,
    @ProductParam() product: ProductRef,
    @Body() body: ReorderImagesDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<GalleryDto> {
    const gallery = await this.gallery.reorder(ctx, product, body.image_ids, parseIfMatch(ifMatch));
    reply.header('etag', versionEtag(gallery.version));
    return gallery;
  }

  @Delete(':imageId')
  @HttpCode(204)
  @ApiResponseHeaders('ETag')
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ImagesWrite)
  @ApiHeader(GALLERY_IF_MATCH)
  @ApiOperation({
    summary: 'Delete an image and its files; the next image becomes primary',
    description:
      'Files that cannot be deleted at once are retried later. Answers the new gallery ETag, as ' +
      'a change of the gallery does.',
  })
  @ApiProblems('gallery_changed')
  async deleteProductImage(
    @Ctx() ctx: RequestContext,
    @ProductParam() product: ProductRef,
    @Param('imageId', ParseIdPipe) imageId: string,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<void> {
    const version = await this.gallery.remove(ctx, product, imageId, parseIfMatch(ifMatch));
    reply.header('etag', versionEtag(version));
  }
}

@ApiTags('images')
@Controller('products/:productId/images')
export class ProductGalleryController extends GalleryRoutes {}

@ApiTags('images')
@Controller('products/by-gtin/:gtin/images')
export class ProductGalleryByGtinController extends GalleryRoutes {}

@ApiTags('images')
@Controller('products/by-external-id/:externalId/images')
export class ProductGalleryByExternalIdController extends GalleryRoutes {}
