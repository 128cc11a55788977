import { imageUploadBody } from '../../openapi/upload-body';
import { Controller, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { Ctx, MinRole, RequireScopes } from '../../auth/decorators';
import { EMPTY_OR_NAME_TEXT_PATTERN } from '../../common/http/display-text';
import type { RequestContext } from '../../auth/principal';
import { Role, Scope } from '../../auth/roles';
import { MultipartRequest } from '../../common/http/multipart-routes';
import type { ImageUpload } from '../../images/intake/multipart-upload';
import { ImageInMultipartOnly } from '../../images/intake/busy-upload.hook';
import { COMPAT_IDEMPOTENCY, Idempotent } from '../../idempotency/idempotent.decorator';
import { IdempotentUpload } from '../../idempotency/idempotent-body.pipe';
import { ApiProblems, ApiSuccessExample, PROBLEMS } from '../../openapi/problems';
import { EXTERNAL_ID_MAX_LENGTH, EXTERNAL_ID_PATTERN_SOURCE } from '../../products/external-id';
import { TokenApiImageDto } from './dto/token-api-image.dto';
import type { TokenApiUploadFieldsDto } from './dto/token-api-upload.dto';
import { TokenApiUploadPipe } from './token-api-upload.pipe';
import { TokenApiService } from './token-api.service';

const UPLOAD_BODY = imageUploadBody({
  // As the main upload's (UploadImageFieldsDto's @EmptyOrNameText), which reads it.
  alt_text: {
    type: 'string',
    maxLength: 1000,
    pattern: EMPTY_OR_NAME_TEXT_PATTERN,
    example: 'Product front view',
  },
  is_primary: {
    type: 'boolean',
    default: false,
    description:
      'Makes the image the primary one (the previous primary is unmarked). Read as Django REST ' +
      'framework reads it, in any case: `true`/`false`, `t`/`f`, `yes`/`no`, `y`/`n`, ' +
      '`on`/`off`, `1`/`0`.',
  },
  order: {
    type: 'integer',
    minimum: 0,
    maximum: 1000000,
    default: 0,
    description:
      'Display order in the gallery: lower first (the primary image always first). Read as ' +
      'Django REST framework reads an integer: `2.0` (a float sent by Python) is 2.',
    example: 1,
  },
});

const EXAMPLE: TokenApiImageDto = {
  id: 42,
  type: 'JPEG',
  user: { id: 7, username: 'stella', full_name: 'Stella Example' },
  name: 'product_image.jpg',
  f: 'https://cdn.example.com/products/0b6fTbXcWuVBqJ2xyFHhzw/9bYsGJZVNPTSbQeJxuSeuy/original.jpg',
  size: 2621440,
  description: '',
  width: 1200,
  height: 900,
  human_readable_size: '2.5 MB',
  mode: 'RGB',
  created_at: new Date('2026-11-22T10:15:00.000Z'),
  updated_at: new Date('2026-11-22T10:15:00.000Z'),
};

/**
 * The token API ("Create Product Image"): `POST /api/products/{product_id}/images`, multipart, as
 * its document prints it. Its clients send `Authorization: Token <key>`; the other credentials
 * work too.
 */
@ApiTags('token-api')
@Controller('api/products/:product_id/images')
export class TokenApiController {
  constructor(private readonly tokenApi: TokenApiService) {}

  @Post()
  @ImageInMultipartOnly()
  @HttpCode(201)
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ImagesWrite)
  @Idempotent(COMPAT_IDEMPOTENCY)
  @ApiConsumes('multipart/form-data')
  @ApiBody(UPLOAD_BODY)
  @ApiParam({
    name: 'product_id',
    schema: {
      type: 'string',
      minLength: 1,
      maxLength: EXTERNAL_ID_MAX_LENGTH,
      pattern: EXTERNAL_ID_PATTERN_SOURCE,
    },
    description:
      'The product: its `external_id` (your own id for it, e.g. `123`), looked up first; else its ' +
      'id (22 characters) or UUID.',
    example: '123',
  })
  @ApiOperation({
    operationId: 'createTokenApiProductImage',
    summary: 'Create a product image (the token API)',
    description:
      'The token API\'s "Create Product Image": uploads an image into the product\'s gallery ' +
      'exactly as `uploadProductImage` does (the same checks, processing, storage and gallery ' +
      "rules), and answers it in the token API's shape: integer ids (`id`, `user.id`), `type` " +
      'and `mode` as PIL names them, `f` the URL of the original. `order` is the gallery ' +
      'priority (default 0). Staff or admin, scope `images:write`.',
  })
  @ApiCreatedResponse({ type: TokenApiImageDto, description: 'The image was added.' })
  @ApiSuccessExample({ value: EXAMPLE })
  @ApiProblems(...PROBLEMS.upload, 'validation_failed', 'product_not_found', 'image_not_found')
  createProductImage(
    @Ctx() ctx: RequestContext,
    @Param('product_id') productId: string,
    @MultipartRequest(TokenApiUploadPipe, IdempotentUpload)
    upload: ImageUpload<TokenApiUploadFieldsDto>,
  ): Promise<TokenApiImageDto> {
    return this.tokenApi.upload(ctx, productId, upload);
  }
}
