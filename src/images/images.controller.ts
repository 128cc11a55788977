import { Controller, Post } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Ctx, MinRole, RequireScopes } from '../auth/decorators';
import type { RequestContext } from '../auth/principal';
import { Role, Scope } from '../auth/roles';
import { StandaloneImageDto } from './dto/standalone-image.dto';
import type { StandaloneUploadFieldsDto } from './dto/upload-image.dto';
import { ImagePurpose } from './entities/image.entity';
import { MultipartBody, StandaloneUploadPipe } from './image-upload.pipe';
import { ImagesService } from './images.service';
import type { ImageUpload } from './multipart-upload';
import { ApiProblems, PROBLEMS } from '../openapi/problems';

const STANDALONE_UPLOAD_BODY = {
  schema: {
    type: 'object',
    required: ['image', 'purpose'],
    properties: {
      image: {
        type: 'string',
        format: 'binary',
        description: 'JPEG, PNG, GIF, WebP, AVIF, BMP (stored as PNG) or SVG (sanitised).',
      },
      purpose: { type: 'string', enum: Object.values(ImagePurpose) },
    },
  },
};

/** Stand-alone uploads (Inventorum and the back-office uploader): images not (yet) in a product's gallery. */
@ApiTags('images')
@Controller('images')
export class ImagesController {
  constructor(private readonly images: ImagesService) {}

  @Post()
  @MinRole(Role.Staff)
  @RequireScopes(Scope.ImagesWrite)
  @ApiConsumes('multipart/form-data')
  @ApiBody(STANDALONE_UPLOAD_BODY)
  @ApiOperation({
    summary: 'Upload an image for later use',
    description:
      'Checked and processed like a gallery upload. One of purpose `product` can be attached to ' +
      'a gallery with `POST /api/v1/products/{id}/images` and `{ "image_id": … }`; any not ' +
      'attached within UNATTACHED_IMAGE_TTL is deleted with its files.',
  })
  @ApiProblems(...PROBLEMS.upload, ...PROBLEMS.validation)
  uploadImage(
    @Ctx() ctx: RequestContext,
    @MultipartBody(StandaloneUploadPipe) upload: ImageUpload<StandaloneUploadFieldsDto>,
  ): Promise<StandaloneImageDto> {
    return this.images.uploadStandalone(ctx, upload);
  }
}
