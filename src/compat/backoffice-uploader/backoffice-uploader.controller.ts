import { Controller, HttpCode, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Ctx } from '../../auth/decorators';
import type { RequestContext } from '../../auth/principal';
import { MultipartRequestOf } from '../../common/http/multipart-routes';
import type { ReceivedFile } from '../../images/intake/multipart-upload';
import { ImageInMultipartOnly } from '../../images/intake/busy-upload.hook';
import { COMPAT_IDEMPOTENCY, Idempotent } from '../../idempotency/idempotent.decorator';
import { IdempotentUpload } from '../../idempotency/idempotent-body.pipe';
import { BACKOFFICE_MAX_BYTES } from './backoffice-formats';
import { BackofficeUploadPipe } from './backoffice-upload.pipe';
import { BACKOFFICE_UPLOADER_TAG, BackofficeUpload } from './backoffice-uploader.openapi';
import { BackofficeUploaderService } from './backoffice-uploader.service';
import type { BackofficeUploadDto } from './dto/backoffice-upload.dto';

/** Its two paths are one upload for an Idempotency-Key: a retry may be sent to either. */
const BACKOFFICE_IDEMPOTENCY = { ...COMPAT_IDEMPOTENCY, aliases: ['/upload/image', '/image'] };

/**
 * Its form: the one image, within the uploader's 15 MiB (MAX_UPLOAD_BYTES where lower), so that a
 * body announcing more than that can be is refused at once, unread, as on the other upload routes,
 * even where MAX_UPLOAD_BYTES allows more.
 */
const BACKOFFICE_FORM = { files: 1, maxFileBytes: BACKOFFICE_MAX_BYTES };

/** The back-office uploader's "Upload Asset Image": `POST /image` and `POST /upload/image`. */
@ApiTags(BACKOFFICE_UPLOADER_TAG)
@Controller()
export class BackofficeUploaderController {
  constructor(private readonly uploader: BackofficeUploaderService) {}

  @Post('image')
  @ImageInMultipartOnly()
  @HttpCode(200)
  @BackofficeUpload('/image')
  @Idempotent(BACKOFFICE_IDEMPOTENCY)
  uploadBackofficeImage(
    @Ctx() ctx: RequestContext,
    @MultipartRequestOf(BACKOFFICE_FORM, BackofficeUploadPipe, IdempotentUpload) file: ReceivedFile,
  ): Promise<BackofficeUploadDto> {
    return this.uploader.upload(ctx, file);
  }

  @Post('upload/image')
  @ImageInMultipartOnly()
  @HttpCode(200)
  @BackofficeUpload('/upload/image')
  @Idempotent(BACKOFFICE_IDEMPOTENCY)
  uploadBackofficeImageUnderUpload(
    @Ctx() ctx: RequestContext,
    @MultipartRequestOf(BACKOFFICE_FORM, BackofficeUploadPipe, IdempotentUpload) file: ReceivedFile,
  ): Promise<BackofficeUploadDto> {
    return this.uploader.upload(ctx, file);
  }
}
