import { applyDecorators } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiResponse } from '@nestjs/swagger';
import { ApiProblems } from '../../openapi/problems';
import type { ErrorCode } from '../../common/errors/error-codes';

const BINARY = { schema: { type: 'string', format: 'binary' } } as const;
/** What a result can be. */
const IMAGE_CONTENT = {
  'image/avif': BINARY,
  'image/webp': BINARY,
  'image/jpeg': BINARY,
  'image/png': BINARY,
  'image/gif': BINARY,
};

/** What a result's answers say about it, for caches and for resuming a download. */
const FILE_HEADERS = {
  ETag: {
    description: "The result's strong entity tag: send it back in If-None-Match, or If-Range.",
    schema: { type: 'string' },
  },
  'Last-Modified': {
    description:
      'When the result was stored. Not sent for a result asked for by preset name (`p_card`), ' +
      'whose configuration may map it to an older stored result: its ETag alone validates it, ' +
      'and If-Modified-Since, If-Unmodified-Since and a date in If-Range are ignored there.',
    schema: { type: 'string' },
  },
  'Cache-Control': {
    description:
      'A result never changes under its URL: `public, max-age=31536000, immutable`; one asked ' +
      'for by preset name (`p_card`), whose size the configuration may change, ' +
      '`public, max-age=86400`. Of a stand-alone upload that expires (`expires_in`), never ' +
      'beyond its `expires_at`: `public, max-age=<seconds left>`, not immutable.',
    schema: { type: 'string' },
  },
  Vary: {
    description:
      '`Accept` where the format was negotiated (`f_auto`, or a preset without `f_`), beside ' +
      '`Origin` when CORS_ORIGINS is set.',
    schema: { type: 'string' },
  },
} as const;
const RANGE_HEADERS = {
  ...FILE_HEADERS,
  'Content-Range': {
    description: 'The bytes sent, of the whole: `bytes 0-99/4096`.',
    schema: { type: 'string' },
  },
} as const;

/** A redirect to the storage's own transformation URL. */
const REDIRECT_HEADERS = {
  Location: {
    description: "The storage's URL of the result.",
    schema: { type: 'string', format: 'uri' },
  },
  'Cache-Control': {
    description:
      'The redirect may be cached for an hour: `public, max-age=3600` (less for an expiring ' +
      'stand-alone upload: until its `expires_at`).',
    schema: { type: 'string' },
  },
  Vary: FILE_HEADERS.Vary,
} as const;

/** Another spelling of a transform URL, redirected to the one the service hands out. */
const CANONICAL_REDIRECT = {
  status: 308,
  description:
    'Another spelling of the URL (percent-encoded characters that need none; unsigned: the id ' +
    'as a UUID, the format before the preset): redirected to the one the service hands out',
  headers: {
    Location: {
      description: "The URL's canonical spelling (the query string kept).",
      schema: { type: 'string', format: 'uri' },
    },
    'Cache-Control': {
      description: 'Cached a year: `public, max-age=31536000, immutable`.',
      schema: { type: 'string' },
    },
  },
} as const;

/** The problems the transform route answers (route_not_found: a path with an empty segment). */
const TRANSFORM_PROBLEMS: ErrorCode[] = [
  'transform_invalid',
  'transform_signature_invalid',
  'image_not_found',
  'route_not_found',
  'image_original_unreadable',
  'image_too_complex',
  'precondition_failed',
  'range_not_satisfiable',
  'server_busy',
  'storage_unavailable',
  'upload_spool_full',
  'upload_spool_unavailable',
];

/** The OpenAPI description of the transform route: its parameters, answers and problems. */
export function ApiTransformedImage(): MethodDecorator {
  return applyDecorators(
    ApiOperation({
      operationId: 'getTransformedImage',
      summary: 'An image at a size and format (a transform URL)',
      description:
        'The image made as `transformation` says, once, then served from storage. Take these URLs from ' +
        "an image's `responsive` srcsets; the README describes the options and how to sign them.",
    }),
    ApiParam({
      name: 'signature',
      description:
        'base64url of the first 16 bytes of HMAC-SHA256(key, `<transformation>/<id>`), or `unsigned` for a preset by name',
      schema: { type: 'string', maxLength: 64 },
    }),
    ApiParam({
      name: 'transformation',
      description: 'Comma-separated `key_value` tokens: w, h, c, f, q, dpr, p',
      example: 'w_640,c_cover,f_auto',
      schema: { type: 'string', maxLength: 200 },
    }),
    ApiParam({ name: 'id', description: "The image's id", schema: { type: 'string' } }),
    ApiResponse({
      status: 200,
      description: 'The image',
      content: IMAGE_CONTENT,
      headers: FILE_HEADERS,
    }),
    ApiResponse({
      status: 206,
      description: 'The byte range asked for',
      content: IMAGE_CONTENT,
      headers: RANGE_HEADERS,
    }),
    ApiResponse({
      status: 302,
      description: 'Where the storage makes it itself (Cloudinary)',
      headers: REDIRECT_HEADERS,
    }),
    ApiResponse(CANONICAL_REDIRECT),
    ApiResponse({
      status: 304,
      description: 'The copy named by If-None-Match is current',
      headers: FILE_HEADERS,
    }),
    ApiProblems(...TRANSFORM_PROBLEMS),
  );
}
