import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { FieldErrorDto, ProblemDetailsDto } from '../common/errors/problem-details.dto';

export const DOCS_PATH = 'docs';

/** The OpenAPI document of the running application (served at /docs-json). */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Product image service')
    .setDescription(
      'Manages the images of an e-commerce catalogue: products, their galleries (one primary ' +
        'image, a display order), uploads checked and processed into renditions, and pluggable ' +
        'storage. Every error is `application/problem+json` (RFC 9457) with a stable `code`.',
    )
    .setVersion('1.0.0')
    .build();
  return SwaggerModule.createDocument(app, config, {
    extraModels: [ProblemDetailsDto, FieldErrorDto],
    operationIdFactory: (_controllerKey, methodKey) => methodKey,
  });
}

/** Swagger UI at /docs and the document at /docs-json. */
export function setupOpenApi(app: INestApplication): void {
  SwaggerModule.setup(DOCS_PATH, app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: `${DOCS_PATH}-json`,
    customSiteTitle: 'Product image service API',
    swaggerOptions: { persistAuthorization: true, displayOperationId: true },
  });
}
