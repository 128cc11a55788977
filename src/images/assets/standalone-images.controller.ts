import { imageUploadBody } from '../../openapi/upload-body';
import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  Patch,
  Post,
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
import type { FastifyReply } from 'fastify';
import { Ctx, MinRole, RequireScopes } from '../../auth/decorators';
import type { RequestContext } from '../../auth/principal';
import { Role, Scope } from '../../auth/roles';
import { CreatedLocation } from '../../common/http/created-location';
import { unlessNotModified } from '../../common/http/not-modified';
import { IMAGE_ETAG, IMAGE_IF_NONE_MATCH, NOT_MODIFIED } from '../image-etag.header';
import { ParseIdPipe } from '../../common/ids/parse-id.pipe';
import {
  ListStandaloneImagesQueryDto,
  StandaloneImageDto,
  StandaloneImagePageDto,
  UpdateStandaloneImageDto,
} from '../dto/standalone-image.dto';
import {
  MAX_EXPIRES_IN_SECONDS,
  MIN_EXPIRES_IN_SECONDS,
  type StandaloneUploadFieldsDto,
} from '../dto/upload-image.dto';
import { ImagePurpose } from '../entities/image.entity';
import { MultipartRequest } from '../../common/http/multipart-routes';
import { StandaloneUploadPipe } from '../intake/image-upload.pipe';
import { ImageInMultipartOnly } from '../intake/busy-upload.hook';
import { ImagesService } from '../images.service';
import type { ImageUpload } from '../intake/multipart-upload';
import { StandaloneImagesService } from './standalone-images.service';
import { ApiProblems, PROBLEMS } from '../../openapi/problems';
import { Idempotent } from '../../idempotency/idempotent.decorator';
import { IdempotentUpload } from '../../idempotency/idempotent-body.pipe';
import {
  EMPTY_OR_NAME_TEXT_PATTERN,
  EMPTY_OR_VISIBLE_MULTILINE_TEXT_PATTERN,
} from '../../common/http/display-text';

const STANDALONE_UPLOAD_BODY = imageUploadBody(
  {
    purpose: { type: 'string', enum: Object.values(ImagePurpose) },
    // Examples: Swagger UI's "Try it out" fills the form with them (else with "string").
    title: {
      type: 'string',
      maxLength: 255,
      pattern: EMPTY_OR_NAME_TEXT_PATTERN,
      example: 'Spring campaign banner',
    },
    alt_text: {
      type: 'string',
      maxLength: 1000,
      pattern: EMPTY_OR_NAME_TEXT_PATTERN,
      example: 'Three pairs of running shoes on a track',
    },
    description: {
      type: 'string',
      maxLength: 5000,
      pattern: EMPTY_OR_VISIBLE_MULTILINE_TEXT_PATTERN,
      example: 'For the category page.',
    },
    expires_in: {
      type: 'integer',
      minimum: MIN_EXPIRES_IN_SECONDS,
      maximum: MAX_EXPIRES_IN_SECONDS,
      description:
        'Seconds until the image is deleted unless it is attached to a product first (an ' +
        'upload-then-attach flow). Left out: kept until deleted.',
    },
  },
  { required: ['image', 'purpose'] },
);

/**
 * Stand-alone images (Inventorum and the back-office uploader): the organisation's image assets,
 * in no product's gallery.
 */
@ApiTags('images')
@Controller('images')
export class StandaloneImagesController {
  constructor(
    private readonly images: ImagesService,
    private readonly assets: StandaloneImagesService,
  ) {}

  @Post()
  @ImageInMultipartOnly()
  @CreatedLocation()
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ImagesWrite)
  @Idempotent()
  @ApiConsumes('multipart/form-data')
  @ApiBody(STANDALONE_UPLOAD_BODY)
  @ApiOperation({
    summary: 'Upload a stand-alone image (an asset)',
    description:
      'Checked and processed like a gallery upload, and kept until deleted. With `expires_in` it ' +
      'is gone from the API at `expires_at` unless attached to a gallery first, and deleted with ' +
      'its files by the next sweep (its file URLs answer until then): one of ' +
      'purpose `product` can be, with `POST /api/v1/products/{id}/images/attach` and ' +
      '`{ "image_id": … }`, which clears the expiry.',
  })
  @ApiProblems(...PROBLEMS.upload, ...PROBLEMS.validation)
  uploadImage(
    @Ctx() ctx: RequestContext,
    @MultipartRequest(StandaloneUploadPipe, IdempotentUpload)
    upload: ImageUpload<StandaloneUploadFieldsDto>,
  ): Promise<StandaloneImageDto> {
    return this.images.uploadStandalone(ctx, upload);
  }

  @Get()
  @RequireScopes(Scope.ImagesRead)
  @ApiOperation({
    summary: 'List stand-alone images, newest first',
    description:
      "The organisation's images that are in no gallery, optionally of one `purpose`, or the one " +
      'stored under `key` (the `key` an upload answered). `next_cursor` leads to the next page.',
  })
  @ApiProblems(...PROBLEMS.validation, 'invalid_cursor')
  listStandaloneImages(
    @Ctx() ctx: RequestContext,
    @Query() query: ListStandaloneImagesQueryDto,
  ): Promise<StandaloneImagePageDto> {
    return this.assets.list(ctx, query);
  }

  @Get(':imageId')
  @RequireScopes(Scope.ImagesRead)
  @ApiHeader(IMAGE_IF_NONE_MATCH)
  @ApiOperation({
    summary: 'One stand-alone image',
    description:
      "An image in a gallery is served by its gallery's routes (here: 404). Its `ETag` is weak " +
      'and changes with anything the body shows: send it back as `If-None-Match` for `304 Not ' +
      'Modified` while the image reads the same.',
  })
  @ApiResponse({ status: 200, type: StandaloneImageDto, headers: { ETag: IMAGE_ETAG } })
  @ApiResponse({ status: 304, description: NOT_MODIFIED, headers: { ETag: IMAGE_ETAG } })
  async getStandaloneImage(
    @Ctx() ctx: RequestContext,
    @Param('imageId', ParseIdPipe) imageId: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<StandaloneImageDto | undefined> {
    return unlessNotModified(reply, await this.assets.get(ctx, imageId), ifNoneMatch);
  }

  @Patch(':imageId')
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ImagesWrite)
  @ApiOperation({
    summary: 'Change the title, alt text or description of a stand-alone image',
    description: 'Fields left out stay as they are.',
  })
  @ApiProblems(...PROBLEMS.jsonBody)
  updateStandaloneImage(
    @Ctx() ctx: RequestContext,
    @Param('imageId', ParseIdPipe) imageId: string,
    @Body() body: UpdateStandaloneImageDto,
  ): Promise<StandaloneImageDto> {
    return this.assets.update(ctx, imageId, body);
  }

  @Delete(':imageId')
  @HttpCode(204)
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ImagesWrite)
  @ApiOperation({
    summary: 'Delete a stand-alone image and its files',
    description:
      'The row goes at once and its files right after (a deletion that fails is retried in the ' +
      'background).',
  })
  deleteStandaloneImage(
    @Ctx() ctx: RequestContext,
    @Param('imageId', ParseIdPipe) imageId: string,
  ): Promise<void> {
    return this.assets.remove(ctx, imageId);
  }
}
