import { STATUS_CODES } from 'node:http';
import { METHOD_METADATA } from '@nestjs/common/constants';
import { DECORATORS, getSchemaPath, type OpenAPIObject, type SchemaObject } from '@nestjs/swagger';
import { ERROR_CODES, errorStatus, type ErrorCode } from '../common/errors/error-codes';
import { SHORT_ID_PATTERN } from '../common/ids/short-id';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_PREFIX } from '../common/errors/problem-details';
import { ProblemDetailsDto } from '../common/errors/problem-details.dto';

/**
 * Error and example documentation. The decorators only record codes and examples on the route
 * handler (as OpenAPI extensions); {@link applyProblemResponses}, run when the document is built,
 * turns them into responses. So several decorators on one route (or on its class) add up instead
 * of replacing each other, and the response the CLI plugin infers for success is left alone.
 */
export const PROBLEMS_EXTENSION = 'x-problems';
export const SUCCESS_EXAMPLES_EXTENSION = 'x-success-examples';

/** Codes that whole kinds of routes can answer with, to spread into {@link ApiProblems}. */
export const PROBLEMS = {
  /** Any route that needs a credential (added to every protected operation automatically). */
  authentication: ['authentication_required', 'invalid_token', 'invalid_api_key'],
  /** A route with @MinRole() / @RequireScopes(). */
  authorisation: ['insufficient_role', 'insufficient_scope'],
  /** A route with a JSON body. */
  jsonBody: ['validation_failed', 'malformed_json', 'payload_too_large', 'unsupported_media_type'],
  /** A route with a query DTO or other validated input. */
  validation: ['validation_failed'],
  /** A route with an id in its path. */
  id: ['invalid_id'],
  /** A route attaching a stand-alone upload (`image_id`, 400 invalid_id when malformed). */
  attach: ['invalid_id', 'image_not_found', 'image_already_attached', 'image_purpose_mismatch'],
  /** A route with a multipart image upload. */
  upload: [
    'image_required',
    'unsupported_image_type',
    'unsafe_svg',
    'invalid_image',
    'image_too_many_pixels',
    'image_too_complex',
    'too_many_files',
    'invalid_multipart',
    'file_too_large',
    'too_many_parts',
    'unsupported_media_type',
    'server_busy',
    'storage_unavailable',
    'upload_spool_full',
    'upload_spool_unavailable',
  ],
} as const satisfies Record<string, readonly ErrorCode[]>;

/**
 * Extension members (RFC 9457) that some codes add to the problem, documented with them. Keep in
 * step with the AppError calls that pass extensions: the response check of the e2e tests reports
 * any member not documented here.
 */
export const PROBLEM_EXTENSIONS: Partial<Record<ErrorCode, Record<string, SchemaObject>>> = {
  api_key_already_created: {
    api_key_id: {
      type: 'string',
      pattern: SHORT_ID_PATTERN,
      description: 'The key the first request created (its secret is not shown again).',
      example: 'Vx3kP9mQ2bT7rW4yZ8nA5c',
    },
  },
  insufficient_scope: {
    required_scopes: {
      type: 'array',
      items: { type: 'string' },
      description: 'The scopes the credential lacks.',
      example: ['images:write'],
    },
  },
  gallery_changed: {
    current_version: {
      type: 'integer',
      description: 'The gallery version now (its ETag): read the gallery again, then retry.',
      example: 7,
    },
  },
  product_changed: {
    current_version: {
      type: 'integer',
      description: 'The product version now (its ETag): read the product again, then retry.',
      example: 4,
    },
  },
  not_ready: {
    checks: {
      type: 'object',
      description:
        'Each dependency checked (`database`, `storage`, the upload `spool`), with its `status` ' +
        '(`up` or `down`).',
      additionalProperties: { type: 'object', additionalProperties: true },
      example: {
        database: { status: 'up' },
        storage: { status: 'down', driver: 's3' },
        spool: { status: 'up' },
      },
    },
  },
};

export interface SuccessExample {
  /** The response status; default: the operation's only 2xx response. */
  status?: number;
  /** Shown in Swagger UI's example list; default "example". */
  name?: string;
  summary?: string;
  value: unknown;
}

type Handler = (...args: never[]) => unknown;

/** Appends values to an extension of one route handler (a list, kept free of duplicates). */
function appendExtension(handler: object, key: string, values: unknown[]): void {
  const extensions = (Reflect.getMetadata(DECORATORS.API_EXTENSION, handler) ?? {}) as Record<
    string,
    unknown
  >;
  const merged = [...((extensions[key] as unknown[] | undefined) ?? [])];
  for (const value of values) if (!merged.includes(value)) merged.push(value);
  Reflect.defineMetadata(DECORATORS.API_EXTENSION, { ...extensions, [key]: merged }, handler);
}

/** The route handlers of a controller class, its inherited ones included. */
function routeHandlers(controller: { prototype: object }): Handler[] {
  const handlers = new Map<string, Handler>();
  for (let proto = controller.prototype; proto && proto !== Object.prototype;) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const value = Object.getOwnPropertyDescriptor(proto, name)?.value as unknown;
      if (name === 'constructor' || handlers.has(name) || typeof value !== 'function') continue;
      if (Reflect.hasMetadata(METHOD_METADATA, value)) handlers.set(name, value as Handler);
    }
    proto = Object.getPrototypeOf(proto) as object;
  }
  return [...handlers.values()];
}

/** A decorator appending values to an extension of a route, or of every route of a class. */
export function extensionDecorator(
  key: string,
  values: unknown[],
): MethodDecorator & ClassDecorator {
  return ((target: object, _key?: string | symbol, descriptor?: PropertyDescriptor) => {
    if (descriptor) {
      appendExtension(descriptor.value as object, key, values);
      return descriptor;
    }
    // On a class: every route of it, inherited ones too (shared with other subclasses).
    for (const handler of routeHandlers(target as { prototype: object })) {
      appendExtension(handler, key, values);
    }
    return target;
  }) as MethodDecorator & ClassDecorator;
}

/**
 * The error responses a route can give, by code: each code's status comes from error-codes.ts,
 * and each status is documented once as `application/problem+json` with the shared
 * ProblemDetailsDto schema, its `code` narrowed to the codes given, and one example per code.
 *
 * ```ts
 * @ApiProblems(...PROBLEMS.id, 'product_not_found', 'image_not_found', 'gallery_changed')
 * ```
 * 401 (PROBLEMS.authentication) is added to every protected operation automatically.
 */
export function ApiProblems(...codes: ErrorCode[]): MethodDecorator & ClassDecorator {
  for (const code of codes) {
    if (!(code in ERROR_CODES)) throw new Error(`ApiProblems: unknown error code "${code}"`);
  }
  return extensionDecorator(PROBLEMS_EXTENSION, codes);
}

const OWN_ERROR_BODY_EXTENSION = 'x-own-error-body';

/**
 * The statuses a route answers in an error body of its own (a compatible API's envelope, which
 * the route documents), wherever they are raised: the problem+json bodies implied for them (by
 * {@link ApiProblems} or the body's parser) are not documented there, as they are never sent.
 */
export function ApiOwnErrorBody(...statuses: number[]): MethodDecorator {
  return extensionDecorator(OWN_ERROR_BODY_EXTENSION, statuses);
}

export const MULTIPART_BODY_ONLY_EXTENSION = 'x-multipart-body-only';

/**
 * A route that takes a multipart body and nothing else, any other refused 415 unread (its route
 * config: MULTIPART_BODY_ONLY): no JSON body is ever parsed there, so the document lists none of
 * the JSON parser's refusals for it (400 malformed_json, 413 payload_too_large).
 */
export function ApiMultipartBodyOnly(): MethodDecorator {
  return extensionDecorator(MULTIPART_BODY_ONLY_EXTENSION, [true]);
}

/** An example of a success response body (the schema stays the one the CLI plugin infers). */
export function ApiSuccessExample(example: SuccessExample): MethodDecorator {
  return extensionDecorator(SUCCESS_EXAMPLES_EXTENSION, [example]);
}

/** The body the service sends for a code, as an example. */
export function problemExample(code: ErrorCode): Record<string, unknown> {
  const { title } = ERROR_CODES[code];
  const validation = code === 'validation_failed';
  const extensions = Object.fromEntries(
    Object.entries(PROBLEM_EXTENSIONS[code] ?? {}).map(([name, schema]) => [name, schema.example]),
  );
  return {
    type: PROBLEM_TYPE_PREFIX + code,
    title,
    status: errorStatus(code),
    detail: validation ? 'Invalid value for: title.' : `${title}.`,
    code,
    errors: validation
      ? [{ field: 'title', message: 'title must be shorter than or equal to 255 characters' }]
      : [],
    request_id: '6f1c2a9e-3b1d-4a55-9c0e-2d5b7e8f9a10',
    ...extensions,
  };
}

interface ResponseObject {
  description?: string;
  headers?: Record<string, unknown>;
  content?: Record<string, { schema?: unknown; example?: unknown; examples?: unknown }>;
}

interface Operation {
  responses?: Record<string, ResponseObject>;
  [key: string]: unknown;
}

/** The problem+json response for some codes of one status. */
export function problemResponse(status: number, codes: ErrorCode[]): ResponseObject {
  const list = codes.map((c) => `- \`${c}\`: ${ERROR_CODES[c].title}`).join('\n');
  return {
    description: `${STATUS_CODES[status] ?? 'Error'} (\`application/problem+json\`), \`code\` one of:\n\n${list}`,
    content: {
      [PROBLEM_CONTENT_TYPE]: {
        schema: {
          allOf: [
            { $ref: getSchemaPath(ProblemDetailsDto) },
            {
              type: 'object',
              properties: {
                status: { type: 'integer', enum: [status] },
                code: { type: 'string', enum: codes },
                ...Object.fromEntries(
                  codes.flatMap((c) => Object.entries(PROBLEM_EXTENSIONS[c] ?? {})),
                ),
              },
            },
          ],
        },
        examples: Object.fromEntries(
          codes.map((c) => [c, { summary: ERROR_CODES[c].title, value: problemExample(c) }]),
        ),
      },
    },
  };
}

function operationsOf(document: OpenAPIObject): Operation[] {
  return Object.values(document.paths).flatMap((item) =>
    Object.values(item as Record<string, unknown>).filter(
      (op): op is Operation => !!op && typeof op === 'object' && 'responses' in op,
    ),
  );
}

/**
 * Turns the extensions recorded by {@link ApiProblems} and {@link ApiSuccessExample} into
 * responses and examples, and removes them. A status the route already documents (say with
 * @ApiServiceUnavailableResponse) keeps its description, followed by the codes.
 */
export function applyProblemResponses(document: OpenAPIObject): void {
  for (const op of operationsOf(document)) {
    const codes = (op[PROBLEMS_EXTENSION] as ErrorCode[] | undefined) ?? [];
    const ownBody = (op[OWN_ERROR_BODY_EXTENSION] as number[] | undefined) ?? [];
    delete op[PROBLEMS_EXTENSION];
    delete op[OWN_ERROR_BODY_EXTENSION];
    const byStatus = new Map<number, ErrorCode[]>();
    for (const code of codes) {
      const status = errorStatus(code);
      if (ownBody.includes(status)) continue;
      byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
    }
    const responses = (op.responses ??= {});
    for (const [status, statusCodes] of [...byStatus].sort(([a], [b]) => a - b)) {
      const generated = problemResponse(status, statusCodes);
      const existing = responses[String(status)];
      // A body the route documents in another media type (a compatible API's own envelope, but
      // for the statuses it answers only so: ApiOwnErrorBody) stays beside the problem+json one.
      responses[String(status)] = existing?.description
        ? {
            ...generated,
            description: `${existing.description}\n\n${generated.description}`,
            content: { ...existing.content, ...generated.content },
          }
        : generated;
    }

    const examples = (op[SUCCESS_EXAMPLES_EXTENSION] as SuccessExample[] | undefined) ?? [];
    delete op[SUCCESS_EXAMPLES_EXTENSION];
    for (const example of examples) addSuccessExample(op, example);
  }
}

function addSuccessExample(op: Operation, example: SuccessExample): void {
  const responses = op.responses ?? {};
  const success = Object.keys(responses).filter((s) => /^2\d\d$/.test(s));
  const status = example.status !== undefined ? String(example.status) : success[0];
  const where = `operation ${String(op.operationId)}`;
  if (example.status === undefined && success.length !== 1) {
    throw new Error(`ApiSuccessExample on ${where}: say which status (2xx: ${success.join(', ')})`);
  }
  const media = Object.values(responses[status]?.content ?? {})[0];
  if (!media) throw new Error(`ApiSuccessExample on ${where}: response ${status} has no body`);
  const examples = (media.examples ??= {}) as Record<string, unknown>;
  examples[example.name ?? 'example'] = {
    ...(example.summary ? { summary: example.summary } : {}),
    value: example.value,
  };
}
