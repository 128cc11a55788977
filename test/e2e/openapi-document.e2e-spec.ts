import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OpenAPIObject } from '@nestjs/swagger';
import { getMetadataStorage } from 'class-validator';
import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata';
import { canonicalOpenApi, exportOpenApiDocument } from '../../src/openapi/openapi-export';

const ROOT = join(__dirname, '..', '..');

/**
 * openapi.json is exported from the compiled service (`npm run openapi`, tsc with the
 * @nestjs/swagger plugin); here the same document is built under Jest, whose transform runs the
 * same plugin on DTOs and controllers. Equal documents mean both that the committed file is current
 * and that what tests see (Swagger UI, /docs-json) is what the service serves.
 */
describe('The OpenAPI document', () => {
  let doc: OpenAPIObject;
  beforeAll(async () => (doc = await exportOpenApiDocument()));

  it('built under Jest equals the committed openapi.json (else run `npm run openapi`)', () => {
    const committed = JSON.parse(readFileSync(join(ROOT, 'openapi.json'), 'utf8'));
    expect(doc).toEqual(committed);
  });

  it('documents DTO properties that only the CLI plugin knows about', () => {
    const schemas = doc.components?.schemas as Record<string, { properties?: object }>;
    // RenditionDto.url and ImageDto.id carry no decorator: only the plugin documents them.
    expect(schemas.RenditionDto.properties).toHaveProperty('url');
    expect(schemas.ImageDto.properties).toHaveProperty('id');
    const upload = doc.paths['/api/v1/products/{productId}/images'].post;
    expect(upload?.responses['201']).toMatchObject({
      content: { 'application/json': { schema: { $ref: '#/components/schemas/ImageDto' } } },
    });
  });

  it("declares what a transform result's answers carry for caches and resumed downloads", () => {
    const route = Object.entries(doc.paths).find(([path]) => path.startsWith('/transform/'));
    const responses = route?.[1].get?.responses as Record<string, { headers?: object }>;
    const cache = ['ETag', 'Last-Modified', 'Cache-Control', 'Vary', 'X-Request-Id'];
    expect(Object.keys(responses['200'].headers ?? {}).sort()).toEqual([...cache].sort());
    expect(Object.keys(responses['304'].headers ?? {}).sort()).toEqual([...cache].sort());
    expect(Object.keys(responses['206'].headers ?? {})).toContain('Content-Range');
  });

  it('states the pattern of every request field the server matches against one', () => {
    const schemas = doc.components?.schemas as Record<
      string,
      { properties?: Record<string, { pattern?: string }> }
    >;
    // Every @Matches of a class the document has, read from class-validator's own registry.
    const registry = getMetadataStorage()['validationMetadatas'] as Map<
      unknown,
      ValidationMetadata[]
    >;
    const matches = [...registry.values()]
      .flat()
      .filter(({ name, target }) => name === 'matches' && typeof target === 'function')
      .map(({ target, propertyName, constraints }) => ({
        schema: (target as { name: string }).name,
        propertyName,
        pattern: (constraints[0] as RegExp).source,
      }))
      .filter(({ schema }) => schemas[schema] !== undefined);
    expect(matches.map(({ schema }) => schema)).toContain('CreateProductDto');
    for (const { schema, propertyName, pattern } of matches) {
      expect({
        schema,
        propertyName,
        pattern: schemas[schema].properties?.[propertyName]?.pattern,
      }).toEqual({ schema, propertyName, pattern });
    }
  });

  it('is canonical: component maps sorted by name and responses by status', () => {
    const doc = canonicalOpenApi({
      openapi: '3.0.0',
      info: { title: 't', version: '1' },
      paths: {
        '/b': { get: { responses: { '404': { description: '' }, '200': { description: '' } } } },
        '/a': { get: { responses: {} } },
      },
      components: { schemas: { Zed: { type: 'string' }, Alpha: { type: 'string' } } },
    });
    expect(Object.keys(doc.paths)).toEqual(['/b', '/a']);
    expect(Object.keys(doc.paths['/b'].get!.responses)).toEqual(['200', '404']);
    expect(Object.keys(doc.components!.schemas!)).toEqual(['Alpha', 'Zed']);
  });
});
