import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiQuery } from '@nestjs/swagger';
import { MinRole, RequireScopes } from '../../auth/decorators';
import { Role, Scope } from '../../auth/roles';
import { ApiProblems, PROBLEMS } from '../../openapi/problems';
import { imageFilePart, imageUploadBody } from '../../openapi/upload-body';
import { BackofficeUploadDto } from './dto/backoffice-upload.dto';

export const BACKOFFICE_UPLOADER_TAG = 'backoffice-uploader';

const UPLOAD_BODY = imageUploadBody(
  {},
  {
    image: imageFilePart('JPEG, PNG, GIF or WebP, at most 15 MiB.'),
  },
);

const QUERY_KEY = {
  name: 'x-api-key',
  required: false,
  type: String,
  description:
    'The API key in the query string instead of the `X-API-Key` header: only where the service ' +
    'runs with API_KEY_QUERY_PARAM=true (otherwise it is ignored, and the request is 401).',
};

/**
 * The back-office uploader's "Upload Asset Image" (both of its paths): authorisation and the
 * OpenAPI description of its request, its answer and its errors.
 */
export function BackofficeUpload(path: string): MethodDecorator {
  return applyDecorators(
    MinRole(Role.Staff),
    RequireScopes(Scope.ImagesWrite),
    ApiConsumes('multipart/form-data'),
    ApiBody(UPLOAD_BODY),
    ApiQuery(QUERY_KEY),
    ApiOperation({
      summary: `Upload an asset image (the back-office uploader, ${path})`,
      description:
        "The back-office uploader's `POST /image`: JPEG, PNG, GIF or WebP (by its bytes; AVIF, " +
        'BMP, SVG and anything else are 400 `unsupported_image_type`), at most 15 MiB (413 ' +
        '`file_too_large`, while it streams in, whatever MAX_UPLOAD_BYTES allows above). Stored ' +
        'as a stand-alone image of purpose `product`, kept until deleted; the answer is the ' +
        "original's storage key, under which the file is served and by which " +
        '`GET /api/v1/images?key=` finds the image. Needs the staff role and `images:write`. ' +
        'Errors are `application/problem+json`.',
    }),
    ApiOkResponse({
      type: BackofficeUploadDto,
      description: 'The stored original.',
      example: { data: { key: 'uploads/58853e25-ae5e-4471-92ee-37c91a501c08/original.png' } },
    }),
    // SVG is refused as a type here (unsupported_image_type), never sanitised (unsafe_svg).
    ApiProblems(...PROBLEMS.upload.filter((code) => code !== 'unsafe_svg'), 'validation_failed'),
  );
}
