import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { OPENAPI_PUBLIC_EXTENSION } from '../auth/decorators';
import { FieldErrorDto, ProblemDetailsDto } from '../common/errors/problem-details.dto';
import { RenditionDto } from '../images/dto/image.dto';

export const DOCS_PATH = 'docs';

/** The three credential forms, each usable in Swagger UI's Authorize dialog. */
export const SECURITY_SCHEMES = { bearer: 'bearer', apiKey: 'api_key', token: 'token' } as const;

/** The OpenAPI document of the running application (served at /docs-json). */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Product image service')
    .setDescription(
      'Manages the images of an e-commerce catalogue: products, their galleries (one primary ' +
        'image, a display order), uploads checked and processed into renditions, and pluggable ' +
        'storage. Every error is `application/problem+json` (RFC 9457) with a stable `code`.\n\n' +
        'Authenticate with a JWT from `POST /api/v1/auth/login` (`Authorization: Bearer …`), or ' +
        'an API key (`X-API-Key: …` or `Authorization: Token …`).',
    )
    .setVersion('1.0.0')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description: 'From POST /api/v1/auth/login',
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
    )
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    extraModels: [ProblemDetailsDto, FieldErrorDto, RenditionDto],
    // Method names are the operation ids; the by-GTIN twin of a controller gets a suffix.
    operationIdFactory: (controllerKey, methodKey) =>
      controllerKey.endsWith('ByGtinController') ? `${methodKey}ByGtin` : methodKey,
  });
  applySecurityRequirements(document);
  declarePathParameters(document);
  return document;
}

const PATH_PARAMETER_DESCRIPTIONS: Record<string, string> = {
  productId: 'Product id (22 characters) or its UUID',
  imageId: 'Image id (22 characters) or its UUID',
  id: 'Id (22 characters) or its UUID',
  gtin: 'GTIN-8, -12, -13 or -14 (compared as the zero-padded GTIN-14)',
};

/**
 * Every `{name}` in a path is declared as a path parameter of each of its operations (routes
 * inherited by the by-GTIN controllers do not carry their own @ApiParam).
 */
function declarePathParameters(document: OpenAPIObject): void {
  for (const [path, item] of Object.entries(document.paths)) {
    const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const operation of Object.values(item)) {
      if (!operation || typeof operation !== 'object' || !('responses' in operation)) continue;
      const op = operation as { parameters?: { name: string; in: string }[] };
      const parameters = (op.parameters ??= []);
      for (const name of names) {
        if (parameters.some((p) => p.in === 'path' && p.name === name)) continue;
        parameters.unshift({
          name,
          in: 'path',
          required: true,
          schema: { type: 'string' },
          description: PATH_PARAMETER_DESCRIPTIONS[name] ?? name,
        } as { name: string; in: string });
      }
    }
  }
}

/** Every operation needs one of the three credentials, except those marked @Public(). */
function applySecurityRequirements(document: OpenAPIObject): void {
  const anyCredential = Object.values(SECURITY_SCHEMES).map((name) => ({ [name]: [] }));
  for (const path of Object.values(document.paths)) {
    for (const operation of Object.values(path)) {
      if (!operation || typeof operation !== 'object' || !('responses' in operation)) continue;
      const op = operation as Record<string, unknown>;
      const isPublic = op[OPENAPI_PUBLIC_EXTENSION] === true;
      delete op[OPENAPI_PUBLIC_EXTENSION];
      op.security = isPublic ? [] : anyCredential;
    }
  }
}

/** Swagger UI at /docs and the document at /docs-json. */
export function setupOpenApi(app: INestApplication): void {
  SwaggerModule.setup(DOCS_PATH, app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: `${DOCS_PATH}-json`,
    customSiteTitle: 'Product image service API',
    swaggerOptions: { persistAuthorization: true, displayOperationId: true },
  });
}
