import { applyDecorators } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiExtraModels,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiResponse,
  getSchemaPath,
} from '@nestjs/swagger';
import { MinRole, RequireScopes } from '../../auth/decorators';
import { Role, Scope } from '../../auth/roles';
import { ApiOwnErrorBody, ApiProblems } from '../../openapi/problems';
import { InventorumErrorDto } from './dto/inventorum-error.dto';
import { InventorumImageDto, URLS_EXAMPLE } from './dto/inventorum-image.dto';
import { DRF_MESSAGES, SERIALIZER_ERROR, type InventorumErrorBody } from './inventorum-error';
import { INVENTORUM_TYPES } from './inventorum-form';
import { ACCEPTED_IMAGES, imageFilePart, imageUploadBody } from '../../openapi/upload-body';

export const INVENTORUM_TAG = 'inventorum';

const UPLOAD_BODY = imageUploadBody(
  {
    product_image: imageFilePart('API version 7 and earlier, instead of `image`.'),
    type: {
      type: 'string',
      enum: [...INVENTORUM_TYPES],
      description:
        'What the image is for (its purpose in the service). From API version 3 on; versions 1 ' +
        'and 2 have none (a `type` sent is ignored) and upload product images.',
    },
  },
  { image: imageFilePart(`API version 8 and later. ${ACCEPTED_IMAGES}`), required: ['type'] },
);

const API_VERSION = {
  name: 'X-Api-Version',
  required: false,
  description:
    "Inventorum's API version: 7 or earlier sends the file as `product_image`, later versions " +
    '(and no header, which means the latest) as `image`; 1 and 2 send no `type`.',
  schema: { type: 'string', example: '12' },
};

const OK_EXAMPLE = {
  id: 752729,
  urls: URLS_EXAMPLE,
  type: 0,
  new: true,
} satisfies InventorumImageDto;

function envelope(
  fields: Record<string, string[]>,
  description: string,
  key: string,
): InventorumErrorBody {
  return { error: { fields, description, key } };
}

/** An error response in Inventorum's envelope, with examples. */
function envelopeResponse(
  status: number,
  description: string,
  examples: Record<string, { summary: string; value: InventorumErrorBody }>,
): MethodDecorator {
  return ApiResponse({
    status,
    description,
    content: {
      'application/json': { schema: { $ref: getSchemaPath(InventorumErrorDto) }, examples },
    },
  });
}

const ERRORS_400 = envelopeResponse(
  400,
  "In Inventorum's envelope: invalid fields (`key` `common.serializer_error`, messages by " +
    'field), a malformed multipart body (`common.invalid_multipart`), a request without ' +
    'exactly one Host header (`common.bad_request`).',
  {
    image_required: {
      summary: 'No image',
      value: envelope(
        { image: [DRF_MESSAGES.required] },
        SERIALIZER_ERROR.description,
        SERIALIZER_ERROR.key,
      ),
    },
    not_a_file: {
      summary: 'The image field sent as text',
      value: envelope(
        { image: [DRF_MESSAGES.notAFile] },
        SERIALIZER_ERROR.description,
        SERIALIZER_ERROR.key,
      ),
    },
    invalid_image: {
      summary: 'Not an image, or an unsupported type',
      value: envelope(
        { image: [DRF_MESSAGES.invalidImage] },
        SERIALIZER_ERROR.description,
        SERIALIZER_ERROR.key,
      ),
    },
    invalid_type: {
      summary: 'An unknown type',
      value: envelope(
        { type: ['"banner" is not a valid choice.'] },
        SERIALIZER_ERROR.description,
        SERIALIZER_ERROR.key,
      ),
    },
  },
);

const ERRORS_413 = envelopeResponse(
  413,
  "In Inventorum's envelope: the file is larger than the upload limit, MAX_UPLOAD_BYTES " +
    '(`common.file_too_large`), or the form has too many parts (`common.too_many_parts`).',
  {
    file_too_large: {
      summary: 'Too large',
      value: envelope(
        { image: ['The file is larger than the upload limit (15728640 bytes).'] },
        'The file is larger than the upload limit (15728640 bytes).',
        'common.file_too_large',
      ),
    },
  },
);

/**
 * Inventorum's `POST /images` (both spellings of its path): authorisation and the OpenAPI
 * description of its request, its answer and its errors.
 */
export function InventorumUpload(path: string): MethodDecorator {
  return applyDecorators(
    MinRole(Role.Staff),
    RequireScopes(Scope.ImagesWrite),
    ApiExtraModels(InventorumErrorDto),
    ApiConsumes('multipart/form-data'),
    ApiBody(UPLOAD_BODY),
    ApiHeader(API_VERSION),
    ApiOperation({
      summary: `Upload an image (Inventorum, ${path})`,
      description:
        "Inventorum's `POST /images`: a stand-alone image of the organisation, kept until " +
        'deleted (it is in `GET /api/v1/images`). Needs the staff role and `images:write` ' +
        '(Inventorum\'s scope "images"); `Authorization: Bearer` takes a JWT or an API key. ' +
        "A Content-Type with two `boundary` parameters (curl sends one for Inventorum's printed " +
        "command) is read with the one the body uses. Every 400 and 413 is in Inventorum's " +
        'envelope (`application/json`), wherever it is raised: in the route, or as the form is ' +
        "read; the envelope's `key` is `common.<code>`, or `common.serializer_error` for invalid " +
        'fields. A body that is not multipart (JSON, a URL-encoded form, none) is refused 415, ' +
        'unread, once the caller is admitted. Every other status (401, 403, 404 ' +
        '`image_not_found`: another client deleted the image the instant its upload committed; ' +
        '408 for a request too slow to arrive, 409 and 422 of an Idempotency-Key, 415, 431, ' +
        '5xx) is `application/problem+json` as everywhere in the service.',
    }),
    ApiOkResponse({
      type: InventorumImageDto,
      description: 'The image: its number, URLs and type.',
      example: OK_EXAMPLE,
    }),
    ERRORS_400,
    ERRORS_413,
    ApiOwnErrorBody(400, 413),
    ApiProblems(
      'image_not_found',
      'unsupported_media_type',
      'server_busy',
      'storage_unavailable',
      'upload_spool_full',
      'upload_spool_unavailable',
    ),
  );
}
