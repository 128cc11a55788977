import { declareNullableReferences } from './nullable-references';
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { OPENAPI_PUBLIC_EXTENSION, OPENAPI_USER_SESSION_EXTENSION } from '../auth/decorators';
import { LOGIN_IDENTIFIER_SCHEMA } from '../auth/dto/login.dto';
import type { ErrorCode } from '../common/errors/error-codes';
import { FieldErrorDto, ProblemDetailsDto } from '../common/errors/problem-details.dto';
import { RenditionDto, ResponsiveImageDto } from '../images/dto/image.dto';
import { EXTERNAL_ID_MAX_LENGTH, EXTERNAL_ID_PATTERN_SOURCE } from '../products/external-id';
import { ID_OR_UUID_PATTERN } from '../common/ids/short-id';
import {
  applyProblemResponses,
  MULTIPART_BODY_ONLY_EXTENSION,
  PROBLEMS,
  PROBLEMS_EXTENSION,
} from './problems';
import { declareResponseHeaders } from './response-headers';

export const DOCS_PATH = 'docs';

/** The three credential forms, each usable in Swagger UI's Authorize dialog. */
export const SECURITY_SCHEMES = { bearer: 'bearer', apiKey: 'api_key', token: 'token' } as const;

/** Tags in the order Swagger UI shows them; a tag used by a route but not listed goes last. */
const TAGS: { name: string; description: string }[] = [
  { name: 'auth', description: 'Log in for a JWT; who am I' },
  { name: 'products', description: 'Products of the catalogue' },
  { name: 'images', description: 'Uploads and galleries: primary image, order, renditions' },
  { name: 'imports', description: 'Bulk imports of images from URLs, worked in the background' },
  {
    name: 'delivery',
    description: 'Images at any size and format on request (transform URLs), public and signed',
  },
  { name: 'renditions', description: 'Re-making renditions after the presets change (admins)' },
  { name: 'api-keys', description: 'API keys of the organisation (admins)' },
  { name: 'users', description: 'Users of the organisation (admins)' },
  { name: 'jobs', description: 'Background jobs: listed, and retried when they failed (admins)' },
  { name: 'health', description: 'Liveness and readiness probes' },
  {
    name: 'token-api',
    description: 'The token API ("Create Product Image"): its routes and shapes, unchanged',
  },
  {
    name: 'closient',
    description: 'Closient’s trade-item images: its routes and shapes, unchanged',
  },
  {
    name: 'inventorum',
    description: 'Inventorum’s `POST /images`: its route and shapes, unchanged',
  },
  {
    name: 'backoffice-uploader',
    description: 'The back-office uploader’s `POST /image`: its routes and shapes, unchanged',
  },
];

/** The OpenAPI document of the running application (served at /docs-json). */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle('Product image service')
    .setDescription(
      'Manages the images of an e-commerce catalogue: products, their galleries (one primary ' +
        'image, a display order), uploads checked and processed into renditions, and pluggable ' +
        'storage. Every error is `application/problem+json` (RFC 9457) with a stable `code` (the ' +
        "compatible APIs' routes answer as their own documents say).\n\n" +
        'Authenticate with a JWT from `POST /api/v1/auth/login` (`Authorization: Bearer …`), or ' +
        'an API key (`X-API-Key: …` or `Authorization: Token …`).',
    )
    .setVersion('1.0.0')
    // Relative: the paths resolve against the address the document was loaded from.
    .addServer('/', 'This service')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description:
          'A JWT from POST /api/v1/auth/login; an API key (pis_…) is also accepted as a bearer ' +
          'token (as Inventorum clients send theirs)',
      },
      SECURITY_SCHEMES.bearer,
    )
    .addApiKey(
      { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An API key: pis_…' },
      SECURITY_SCHEMES.apiKey,
    )
    .addApiKey(
      {
        type: 'apiKey',
        in: 'header',
        name: 'Authorization',
        description: 'An API key as "Token pis_…" (type the word Token, a space, then the key)',
      },
      SECURITY_SCHEMES.token,
    );
  for (const tag of TAGS) builder.addTag(tag.name, tag.description);
  const config = builder.build();
  const document = SwaggerModule.createDocument(app, config, {
    extraModels: [ProblemDetailsDto, FieldErrorDto, RenditionDto, ResponsiveImageDto],
    // Method names are the operation ids; the by-GTIN and by-external-id twins of a controller
    // get a suffix.
    operationIdFactory: (controllerKey, methodKey) =>
      controllerKey.endsWith('ByGtinController')
        ? `${methodKey}ByGtin`
        : controllerKey.endsWith('ByExternalIdController')
          ? `${methodKey}ByExternalId`
          : methodKey,
  });
  declareSchemaConstraints(document);
  applySecurityRequirements(document);
  declareBodyRefusals(document);
  declarePathParameters(document);
  applyProblemResponses(document);
  declareUsedTags(document);
  declareResponseHeaders(document);
  declareNullableReferences(document);
  return document;
}

/** What a request body's validation checks across fields, which the CLI plugin cannot see. */
const SCHEMA_CONSTRAINTS: Record<string, Record<string, unknown>> = {
  LoginDto: LOGIN_IDENTIFIER_SCHEMA,
};

function declareSchemaConstraints(document: OpenAPIObject): void {
  for (const [name, constraints] of Object.entries(SCHEMA_CONSTRAINTS)) {
    const schema = document.components?.schemas?.[name];
    if (!schema) throw new Error(`OpenAPI: no schema ${name} to constrain`);
    Object.assign(schema, constraints);
  }
}

/** What a path parameter can be answered with (a malformed or unknown id, and so on). */
const PATH_PARAMETER_PROBLEMS: Record<string, ErrorCode[]> = {
  productId: ['invalid_id', 'product_not_found'],
  imageId: ['invalid_id', 'image_not_found'],
  id: ['invalid_id'],
  importId: ['invalid_id'],
  gtin: ['invalid_gtin', 'product_not_found'],
  externalId: ['invalid_external_id', 'product_not_found'],
};

const PATH_PARAMETER_DESCRIPTIONS: Record<string, string> = {
  productId: 'Product id (22 characters) or its UUID',
  imageId: 'Image id (22 characters) or its UUID',
  id: 'Id (22 characters) or its UUID',
  importId: 'Import id (22 characters) or its UUID',
  gtin: 'GTIN-8, -12, -13 or -14 (compared as the zero-padded GTIN-14)',
  externalId:
    'Your own id for the product (its `external_id`), percent-encoded, compared exactly: 1 to ' +
    '255 characters, without "/" or control characters, not "." or ".."',
};

/** The schema of a path parameter, by name (what a client can check before sending). */
const PATH_PARAMETER_SCHEMAS: Record<string, Record<string, unknown>> = {
  productId: { type: 'string', pattern: ID_OR_UUID_PATTERN },
  imageId: { type: 'string', pattern: ID_OR_UUID_PATTERN },
  id: { type: 'string', pattern: ID_OR_UUID_PATTERN },
  importId: { type: 'string', pattern: ID_OR_UUID_PATTERN },
  gtin: { type: 'string', pattern: '^\\d{8,14}$' },
  externalId: {
    type: 'string',
    minLength: 1,
    maxLength: EXTERNAL_ID_MAX_LENGTH,
    pattern: EXTERNAL_ID_PATTERN_SOURCE,
  },
};

/**
 * Every `{name}` in a path is declared as a path parameter of each of its operations (routes
 * inherited by the by-GTIN controllers do not carry their own @ApiParam), with the problems it
 * implies (PATH_PARAMETER_PROBLEMS: 400 for a malformed id or GTIN, 404 for an unknown product or
 * image).
 */
function declarePathParameters(document: OpenAPIObject): void {
  for (const [path, item] of Object.entries(document.paths)) {
    const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const operation of Object.values(item)) {
      if (!operation || typeof operation !== 'object' || !('responses' in operation)) continue;
      const op = operation as { parameters?: { name: string; in: string }[] } & Record<
        string,
        unknown
      >;
      const codes = (op[PROBLEMS_EXTENSION] as ErrorCode[] | undefined) ?? [];
      // Any path parameter: the router refuses bad percent-encoding, or one longer than
      // MAX_PARAM_LENGTH, with 400 malformed_url before a route is chosen.
      const implied = [
        ...names.flatMap((name) => PATH_PARAMETER_PROBLEMS[name] ?? []),
        ...(names.length > 0 ? (['malformed_url'] as const) : []),
      ];
      op[PROBLEMS_EXTENSION] = [
        ...codes,
        ...implied.filter((c, i) => !codes.includes(c) && implied.indexOf(c) === i),
      ];
      const parameters = (op.parameters ??= []);
      for (const name of names) {
        const declared = parameters.find((p) => p.in === 'path' && p.name === name) as
          { schema?: unknown } | undefined;
        const schema = PATH_PARAMETER_SCHEMAS[name];
        if (declared) {
          if (schema) declared.schema = schema;
          const description = PATH_PARAMETER_DESCRIPTIONS[name];
          if (description && !('description' in declared)) {
            Object.assign(declared, { description });
          }
          continue;
        }
        parameters.unshift({
          name,
          in: 'path',
          required: true,
          schema: schema ?? { type: 'string' },
          description: PATH_PARAMETER_DESCRIPTIONS[name] ?? name,
        } as { name: string; in: string });
      }
    }
  }
}

/** The probes answer from their own checks, whatever the database does. */
const PROBE_OPERATIONS = new Set(['getLiveness', 'getReadiness']);

/**
 * Every operation needs one of the three credentials, except those marked @Public(), and so can
 * answer 401; every operation can answer 400 bad_request (an HTTP/1.1 request without Host, or
 * with two: requireHost, once the route is chosen), 408 request_timeout and 431
 * headers_too_large (a client too slow to send its request, or sending too much header, answered
 * on the socket before any route is chosen, so that no route's own list can show them), 500 and
 * 503 service_unavailable (a request arriving while the server shuts down), and every one but
 * the probes 503
 * database_unavailable (a connection lost to a failover or a restart, or a statement past
 * DATABASE_STATEMENT_TIMEOUT_MS: retry).
 */
function applySecurityRequirements(document: OpenAPIObject): void {
  const anyCredential = Object.values(SECURITY_SCHEMES).map((name) => ({ [name]: [] }));
  for (const path of Object.values(document.paths)) {
    for (const operation of Object.values(path)) {
      if (!operation || typeof operation !== 'object' || !('responses' in operation)) continue;
      const op = operation as Record<string, unknown>;
      const isPublic = op[OPENAPI_PUBLIC_EXTENSION] === true;
      const userSession = op[OPENAPI_USER_SESSION_EXTENSION] === true;
      delete op[OPENAPI_PUBLIC_EXTENSION];
      delete op[OPENAPI_USER_SESSION_EXTENSION];
      op.security = isPublic
        ? []
        : userSession
          ? [{ [SECURITY_SCHEMES.bearer]: [] }]
          : anyCredential;
      // Any route can refuse its Host (400), be cut (408, 431), fail (500) or meet the shutdown
      // (503); a protected one can refuse the credential (401).
      const codes = (op[PROBLEMS_EXTENSION] as string[] | undefined) ?? [];
      const implied: string[] = [
        'bad_request',
        'request_timeout',
        'headers_too_large',
        ...(isPublic ? [] : PROBLEMS.authentication),
        'internal_error',
        'service_unavailable',
        ...(PROBE_OPERATIONS.has(String(op.operationId)) ? [] : ['database_unavailable']),
      ];
      op[PROBLEMS_EXTENSION] = [...implied.filter((c) => !codes.includes(c)), ...codes];
    }
  }
}

/**
 * The methods whose body Fastify reads, whatever the route takes (a DELETE's too). On each of them
 * a Content-Type no parser takes, a multipart body on a route that takes none, or any
 * Content-Encoding (but gzip on a bulk import) is refused with 415 before the handler (a
 * Transfer-Encoding other than chunked with 501), and a JSON body is parsed (400 malformed_json;
 * validation_failed for `null`, or one nested too deep or holding a NUL; 413 payload_too_large
 * over JSON_BODY_LIMIT_BYTES): documented on every such operation, those that take no body
 * included, but the uploads that take multipart only ({@link ApiMultipartBodyOnly}), which refuse
 * any other body 415 unread and so never parse JSON (their own validation_failed, of a form's
 * fields, they list themselves). On Inventorum's routes, whose route config answers every 400 and
 * 413 in their envelope, their operations document that envelope instead.
 */
const BODY_METHODS = new Set(['post', 'put', 'patch', 'delete']);
const JSON_BODY_REFUSALS = ['malformed_json', 'validation_failed', 'payload_too_large'];
const BODY_REFUSALS = ['unsupported_media_type', 'unsupported_transfer_coding'];

function declareBodyRefusals(document: OpenAPIObject): void {
  for (const path of Object.values(document.paths)) {
    for (const [method, operation] of Object.entries(path)) {
      if (!operation || typeof operation !== 'object') continue;
      const op = operation as Record<string, unknown>;
      const multipartOnly = op[MULTIPART_BODY_ONLY_EXTENSION] !== undefined;
      delete op[MULTIPART_BODY_ONLY_EXTENSION];
      if (!BODY_METHODS.has(method)) continue;
      const codes = (op[PROBLEMS_EXTENSION] as string[] | undefined) ?? [];
      const refusals = multipartOnly ? BODY_REFUSALS : [...JSON_BODY_REFUSALS, ...BODY_REFUSALS];
      const missing = refusals.filter((code) => !codes.includes(code));
      if (missing.length > 0) op[PROBLEMS_EXTENSION] = [...codes, ...missing];
    }
  }
}

/** Every tag an operation uses is declared (the listed ones first, with their descriptions). */
function declareUsedTags(document: OpenAPIObject): void {
  const declared = (document.tags ??= []);
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item as Record<string, { tags?: string[] }>)) {
      for (const name of operation?.tags ?? []) {
        if (!declared.some((t) => t.name === name)) declared.push({ name });
      }
    }
  }
  // Listed tags that no route uses are dropped.
  document.tags = declared.filter((t) =>
    Object.values(document.paths).some((item) =>
      Object.values(item as Record<string, { tags?: string[] }>).some((op) =>
        op?.tags?.includes(t.name),
      ),
    ),
  );
}

/** Swagger UI at /docs and the document at /docs-json. */
export function setupOpenApi(app: INestApplication): void {
  SwaggerModule.setup(DOCS_PATH, app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: `${DOCS_PATH}-json`,
    customSiteTitle: 'Product image service API',
    // Not persistAuthorization: Swagger UI would keep the token or API key it is given in
    // localStorage, after the browser closes, readable by every page of the origin (the console's).
    swaggerOptions: { displayOperationId: true },
  });
}
