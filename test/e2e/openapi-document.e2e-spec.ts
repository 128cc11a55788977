import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  OpenAPIObject,
  OperationObject,
  ParameterObject,
  RequestBodyObject,
  ResponseObject,
  SchemaObject,
} from '@nestjs/swagger';
import { getMetadataStorage } from 'class-validator';
import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata';
import { ID_OR_UUID_PATTERN } from '../../src/common/ids/short-id';
import { canonicalOpenApi, exportOpenApiDocument } from '../../src/openapi/openapi-export';
import { inOwnEnvelope } from '../support/openapi-validator';

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

  /** Every operation of the document, with its path. */
  function operations(): { path: string; op: OperationObject }[] {
    return Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.values(item as Record<string, OperationObject>)
        .filter((op) => typeof op === 'object' && 'responses' in op)
        .map((op) => ({ path, op })),
    );
  }

  /** The `code` enum a problem response documents. */
  function problemCodes(op: OperationObject, status: string): string[] {
    const response = op.responses[status] as ResponseObject | undefined;
    const schema = response?.content?.['application/problem+json']?.schema as
      { allOf: { properties?: { code?: { enum: string[] } } }[] } | undefined;
    return schema?.allOf[1].properties?.code?.enum ?? [];
  }

  it('gives every id path parameter the id pattern the service enforces (400 invalid_id)', () => {
    const missing = operations().flatMap(({ op }) =>
      ((op.parameters ?? []) as ParameterObject[])
        // The service's own ids; an external id is the client's, and has its own pattern.
        .filter((p) => p.in === 'path' && /(^id$|Id$)/.test(p.name) && p.name !== 'externalId')
        .filter((p) => (p.schema as { pattern?: string }).pattern !== ID_OR_UUID_PATTERN)
        .map((p) => `${op.operationId}.${p.name}`),
    );
    expect(missing).toEqual([]);
  });

  it("lists 400 malformed_url, the router's refusal of a bad path parameter, wherever one is", () => {
    const missing = operations()
      .filter(
        ({ path, op }) => path.includes('{') && !problemCodes(op, '400').includes('malformed_url'),
      )
      .map(({ op }) => op.operationId);
    expect(missing).toEqual([]);
  });

  /**
   * The upload routes that take multipart/form-data only (MULTIPART_BODY_ONLY): any other body is
   * refused 415 unread, so no JSON parser's refusal can be answered there.
   */
  const MULTIPART_ONLY = [
    'uploadImage',
    'createTokenApiProductImage',
    'uploadClosientTradeItemImage',
    'uploadInventorumImage',
    'uploadInventorumImageWithoutSlash',
    'uploadBackofficeImage',
    'uploadBackofficeImageUnderUpload',
  ];

  it('lists 413 payload_too_large, malformed_json and validation_failed wherever JSON is parsed', () => {
    const missing = Object.values(doc.paths).flatMap((item) =>
      (['post', 'put', 'patch', 'delete'] as const).flatMap((method) => {
        const op = (item as Record<string, OperationObject | undefined>)[method];
        if (!op || MULTIPART_ONLY.includes(String(op.operationId))) return [];
        // A route answering 400 and 413 only in an envelope of its own (Inventorum's) documents
        // that envelope instead (its keys: compat-inventorum.e2e-spec).
        const statuses = ['400', '413'];
        if (statuses.every((s) => inOwnEnvelope(op.responses[s] as ResponseObject))) return [];
        const codes = [...problemCodes(op, '400'), ...problemCodes(op, '413')];
        return ['malformed_json', 'validation_failed', 'payload_too_large']
          .filter((code) => !codes.includes(code))
          .map((code) => `${op.operationId} ${code}`);
      }),
    );
    expect(missing).toEqual([]);
  });

  it('lists no JSON parser refusal on the uploads that take multipart only (refused 415 unread)', () => {
    const found = operations().filter(({ op }) => MULTIPART_ONLY.includes(String(op.operationId)));
    expect(found.map(({ op }) => op.operationId).sort()).toEqual([...MULTIPART_ONLY].sort());
    for (const { op } of found) {
      const codes = ['400', '413'].flatMap((status) => problemCodes(op, status));
      expect({ op: op.operationId, listed: codes.filter((c) => /json|payload/.test(c)) }).toEqual({
        op: op.operationId,
        listed: [],
      });
      // What such a route does answer for another body: 415, or 501 for a Transfer-Encoding.
      expect(problemCodes(op, '415')).toContain('unsupported_media_type');
      expect(problemCodes(op, '501')).toContain('unsupported_transfer_coding');
    }
  });

  describe('gives the request bodies Swagger UI\'s "Try it out" sends sensible defaults', () => {
    /** The body Swagger UI starts from: the first example, else the schema's own. */
    function firstExample(operationId: string, type = 'application/json'): unknown {
      const { op } = operations().find(({ op }) => op.operationId === operationId)!;
      const media = (op.requestBody as RequestBodyObject).content[type];
      const examples = Object.values(media.examples ?? {}) as { value?: unknown }[];
      return media.example ?? examples[0]?.value;
    }

    it('createImport: a row names its product exactly once', () => {
      const body = firstExample('createImport') as { rows: Record<string, unknown>[] };
      expect(body.rows.length).toBeGreaterThan(0);
      for (const row of body.rows) {
        expect(['product_id', 'gtin', 'external_id'].filter((k) => k in row)).toHaveLength(1);
      }
    });

    it('createApiKey: no expires_at, which Swagger UI would fill with the present (400)', () => {
      expect(firstExample('createApiKey')).toEqual({ name: expect.any(String), role: 'staff' });
    });

    it('createUser: the least role, and a password that says to replace it', () => {
      expect(firstExample('createUser')).toMatchObject({
        role: 'user',
        password: expect.stringMatching(/^replace-/),
      });
    });

    it('uploads: every text field of the form has an example (else Swagger UI sends "string")', () => {
      const missing = operations().flatMap(({ op }) => {
        const form = (op.requestBody as RequestBodyObject | undefined)?.content[
          'multipart/form-data'
        ]?.schema as SchemaObject | undefined;
        return Object.entries(form?.properties ?? {})
          .filter(([name]) => ['title', 'alt_text', 'description'].includes(name))
          .filter(([, schema]) => (schema as SchemaObject).example === undefined)
          .map(([name]) => `${op.operationId}.${name}`);
      });
      expect(missing).toEqual([]);
    });
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
