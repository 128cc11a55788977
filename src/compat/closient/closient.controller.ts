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
import type { RequestContext } from '../../auth/principal';
import { Role, Scope } from '../../auth/roles';
import { ID_OR_UUID_PATTERN } from '../../common/ids/short-id';
import { MultipartRequest } from '../../common/http/multipart-routes';
import type { ImageUpload } from '../../images/intake/multipart-upload';
import { ImageInMultipartOnly } from '../../images/intake/busy-upload.hook';
import { COMPAT_IDEMPOTENCY, Idempotent } from '../../idempotency/idempotent.decorator';
import { IdempotentUpload } from '../../idempotency/idempotent-body.pipe';
import { ApiProblems, ApiSuccessExample, PROBLEMS } from '../../openapi/problems';
import { CLOSIENT_GTIN_PATTERN } from './closient-mapping';
import { ClosientUploadPipe } from './closient-upload.pipe';
import { ClosientService } from './closient.service';
import { ClosientImageDto } from './dto/closient-image.dto';
import type { ClosientUploadFieldsDto } from './dto/closient-upload.dto';

const UPLOAD_BODY = imageUploadBody({
  title: {
    type: 'string',
    maxLength: 255,
    default: '',
    description: 'Caption / role label, e.g. "Front of package".',
    example: 'Front of package',
  },
  is_primary: {
    type: 'boolean',
    default: false,
    description:
      "When true, the image becomes the product's hero image and the previous primary image " +
      'is unmarked. Read in any case: `true`/`false`, `t`/`f`, `yes`/`no`, `y`/`n`, `on`/`off`, ' +
      '`1`/`0`; sent empty, it is not sent (false).',
  },
});

const EXAMPLE: ClosientImageDto = {
  id: '9bYsGJZVNPTSbQeJxuSeuy',
  title: 'Front of package',
  is_primary: true,
  priority: 1,
  created: new Date('2023-11-07T05:31:56.000Z'),
  image_url:
    'https://cdn.example.com/products/0b6fTbXcWuVBqJ2xyFHhzw/9bYsGJZVNPTSbQeJxuSeuy/original.jpg',
};

/**
 * Closient's "Upload product image": `POST /dashboard/api/v1/trade-items/{organization_id}/{gtin}/images`,
 * multipart, as its document prints it. Its clients send `X-API-Key`; the other credentials work too.
 */
@ApiTags('closient')
@Controller('dashboard/api/v1/trade-items/:organization_id/:gtin/images')
export class ClosientController {
  constructor(private readonly closient: ClosientService) {}

  @Post()
  @ImageInMultipartOnly()
  @HttpCode(201)
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ImagesWrite)
  @Idempotent(COMPAT_IDEMPOTENCY)
  @ApiConsumes('multipart/form-data')
  @ApiBody(UPLOAD_BODY)
  @ApiParam({
    name: 'organization_id',
    schema: { type: 'string', pattern: ID_OR_UUID_PATTERN },
    description:
      "Your organisation's id (22 characters, as `GET /api/v1/auth/me` shows it) or its UUID. " +
      "Another organisation's: 404.",
  })
  @ApiParam({
    name: 'gtin',
    schema: { type: 'string', pattern: CLOSIENT_GTIN_PATTERN },
    description: 'GTIN-8, -12, -13 or -14 of the product, zero-padded to GTIN-14 before lookup.',
    example: '12345678905',
  })
  @ApiOperation({
    operationId: 'uploadClosientTradeItemImage',
    summary: 'Upload a product image (Closient)',
    description:
      "Closient's trade-item image upload: the image joins the gallery of the product with this " +
      'GTIN exactly as `uploadProductImage` adds it (the same checks, processing, storage and ' +
      'gallery rules; `is_primary` makes it the hero and unmarks the previous one; it goes after ' +
      "the last image), and is answered in Closient's shape. Staff or admin, scope `images:write`.",
  })
  @ApiCreatedResponse({ type: ClosientImageDto, description: 'Created.' })
  @ApiSuccessExample({ value: EXAMPLE })
  @ApiProblems(...PROBLEMS.upload, 'validation_failed', 'invalid_id', 'product_not_found')
  uploadTradeItemImage(
    @Ctx() ctx: RequestContext,
    @Param('organization_id') organizationId: string,
    @Param('gtin') gtin: string,
    @MultipartRequest(ClosientUploadPipe, IdempotentUpload)
    upload: ImageUpload<ClosientUploadFieldsDto>,
  ): Promise<ClosientImageDto> {
    return this.closient.upload(ctx, { organizationId, gtin }, upload);
  }
}
