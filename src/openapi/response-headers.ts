import { ApiExtension, type HeaderObject, type OpenAPIObject } from '@nestjs/swagger';
import type { ErrorCode } from '../common/errors/error-codes';
import { PROBLEM_CONTENT_TYPE } from '../common/errors/problem-details';

/** Recorded on a route handler by {@link ApiResponseHeaders}; read when the document is built. */
export const RESPONSE_HEADERS_EXTENSION = 'x-response-headers';

/** The response headers the service sets, declared once under components.headers. */
const HEADERS = {
  'X-Request-Id': {
    description:
      'The id of this request in the service’s logs: the X-Request-Id the caller sent, if plain ' +
      '(1–128 of `A-Za-z0-9._:-`), else a new UUID.',
    schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
  },
  'WWW-Authenticate': {
    description: 'The credentials the service accepts (RFC 9110): Bearer (a JWT) and Token.',
    schema: { type: 'string' },
  },
  'Retry-After': {
    description: 'Seconds to wait before trying again.',
    schema: { type: 'integer', minimum: 0 },
  },
  ETag: {
    description:
      'The version of what the route reads or changes as a strong entity tag: a gallery’s `"7"`, ' +
      'a product’s `"p7"`. Send it back in If-Match to change it only if nobody changed it since.',
    schema: { type: 'string', pattern: '^"p?\\d+"$' },
  },
  Location: {
    description: 'Where the created resource can be read.',
    schema: { type: 'string', format: 'uri-reference' },
  },
} satisfies Record<string, HeaderObject>;

export type SuccessHeader = 'ETag' | 'Location';

/** The route's successful responses carry these headers (a version's ETag, a Location). */
export function ApiResponseHeaders(...names: SuccessHeader[]): MethodDecorator & ClassDecorator {
  return ApiExtension(RESPONSE_HEADERS_EXTENSION, names);
}

/**
 * The codes whose problem carries Retry-After (the AppErrors that pass it), beside every 429 and
 * 503: a 409 idempotency_key_in_use says when to retry too.
 */
const RETRY_AFTER_CODES: readonly ErrorCode[] = [
  'idempotency_key_in_use',
  'login_rate_limited',
  'login_limits_unavailable',
  'database_unavailable',
  'not_ready',
  'server_busy',
  'upload_spool_full',
  'upload_spool_unavailable',
];

/** The codes whose problem carries Location: the thing that a retry is told was made already. */
const LOCATION_CODES: readonly ErrorCode[] = ['api_key_already_created'];

type Response = { headers?: Record<string, unknown>; content?: Record<string, unknown> };

/** The `code`s a response's problem+json body is documented with (none if it has none). */
function problemCodes(response: Response): string[] {
  const media = response.content?.[PROBLEM_CONTENT_TYPE] as
    { schema?: { allOf?: { properties?: { code?: { enum?: string[] } } }[] } } | undefined;
  return (media?.schema?.allOf ?? []).flatMap((part) => part.properties?.code?.enum ?? []);
}

/** The headers every response of any operation can carry, by status and by its codes. */
function impliedHeaders(status: string, response: Response): (keyof typeof HEADERS)[] {
  const names: (keyof typeof HEADERS)[] = ['X-Request-Id'];
  if (status === '401') names.push('WWW-Authenticate');
  const retry = problemCodes(response).some((c) => RETRY_AFTER_CODES.includes(c as ErrorCode));
  if (status === '429' || status === '503' || retry) names.push('Retry-After');
  if (problemCodes(response).some((c) => LOCATION_CODES.includes(c as ErrorCode)))
    names.push('Location');
  return names;
}

/**
 * Declares the response headers, so that generated clients can read them typed: X-Request-Id on
 * every response, WWW-Authenticate on 401, Retry-After on 429, 503 and where a code carries it
 * (409 idempotency_key_in_use), Location where a code names what was made (409
 * api_key_already_created), and on success the headers a route declares with
 * {@link ApiResponseHeaders}.
 */
export function declareResponseHeaders(document: OpenAPIObject): void {
  document.components = { ...document.components, headers: { ...HEADERS } };
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item)) {
      if (!operation || typeof operation !== 'object' || !('responses' in operation)) continue;
      const op = operation as Record<string, unknown> & { responses: Record<string, Response> };
      const declared = (op[RESPONSE_HEADERS_EXTENSION] as SuccessHeader[] | undefined) ?? [];
      delete op[RESPONSE_HEADERS_EXTENSION];
      for (const [status, response] of Object.entries(op.responses)) {
        if ('$ref' in response) continue;
        const names = [
          ...impliedHeaders(status, response),
          ...(status.startsWith('2') ? declared : []),
        ];
        response.headers = {
          ...response.headers,
          ...Object.fromEntries(
            names.map((name) => [name, { $ref: `#/components/headers/${name}` }]),
          ),
        };
      }
    }
  }
}
