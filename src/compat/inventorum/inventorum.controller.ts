import { Controller, HttpCode, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Ctx } from '../../auth/decorators';
import type { RequestContext } from '../../auth/principal';
import type { StandaloneUploadFieldsDto } from '../../images/dto/upload-image.dto';
import { MultipartRequestOf } from '../../common/http/multipart-routes';
import type { ImageUpload } from '../../images/intake/multipart-upload';
import { ImageInMultipartOnly } from '../../images/intake/busy-upload.hook';
import { COMPAT_IDEMPOTENCY, Idempotent } from '../../idempotency/idempotent.decorator';
import { IdempotentUpload } from '../../idempotency/idempotent-body.pipe';
import type { InventorumImageDto } from './dto/inventorum-image.dto';
import { INVENTORUM_ERRORS } from './inventorum-error-shape';
import { INVENTORUM_TAG, InventorumUpload } from './inventorum.openapi';
import { InventorumService } from './inventorum.service';
import { InventorumUploadPipe } from './inventorum-upload.pipe';

/**
 * Inventorum's form: its image and a file part it ignores (as Inventorum ignores fields it does
 * not know), each within MAX_UPLOAD_BYTES; the multipart reader takes two files in all.
 */
const INVENTORUM_FORM = { files: 2 };

/** Its two paths are one upload for an Idempotency-Key: a retry may be sent to either. */
const INVENTORUM_IDEMPOTENCY = { ...COMPAT_IDEMPOTENCY, aliases: ['/api/images/', '/api/images'] };

/**
 * Inventorum's `POST /api/images/` (as its document prints it) and `POST /api/images`. Nest
 * drops one trailing slash from a route's path: `//` keeps one, for the first.
 */
@ApiTags(INVENTORUM_TAG)
@Controller('api/images')
export class InventorumController {
  constructor(private readonly inventorum: InventorumService) {}

  @Post('//')
  @HttpCode(200)
  @ImageInMultipartOnly(INVENTORUM_ERRORS)
  @InventorumUpload('/api/images/')
  @Idempotent(INVENTORUM_IDEMPOTENCY)
  uploadInventorumImage(
    @Ctx() ctx: RequestContext,
    @MultipartRequestOf(INVENTORUM_FORM, InventorumUploadPipe, IdempotentUpload)
    upload: ImageUpload<StandaloneUploadFieldsDto>,
  ): Promise<InventorumImageDto> {
    return this.inventorum.upload(ctx, upload);
  }

  @Post()
  @HttpCode(200)
  @ImageInMultipartOnly(INVENTORUM_ERRORS)
  @InventorumUpload('/api/images')
  @Idempotent(INVENTORUM_IDEMPOTENCY)
  uploadInventorumImageWithoutSlash(
    @Ctx() ctx: RequestContext,
    @MultipartRequestOf(INVENTORUM_FORM, InventorumUploadPipe, IdempotentUpload)
    upload: ImageUpload<StandaloneUploadFieldsDto>,
  ): Promise<InventorumImageDto> {
    return this.inventorum.upload(ctx, upload);
  }
}
