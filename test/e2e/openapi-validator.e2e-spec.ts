import { Controller, Get, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  recordOpenApiResponses,
  resetOpenApiRecords,
  takeViolations,
} from '../support/openapi-recorder';
import {
  fastifyRoute,
  formatViolations,
  OpenApiResponseValidator,
  type ObservedResponse,
  type OpenApiDocument,
} from '../support/openapi-validator';
import { call, login } from '../support/http';
import { startTestApp, TEST_ADMIN, type TestApp } from '../support/test-app';
import { solidJpeg } from '../support/fixtures';
import { multipart } from '../support/multipart';

const json = (schema: object) => ({ content: { 'application/json': { schema } } });

const DOCUMENT: OpenApiDocument = {
  paths: {
    '/things/{thingId}': {
      get: {
        operationId: 'getThing',
        responses: {
          '200': json({ $ref: '#/components/schemas/Thing' }),
          '404': {
            content: {
              'application/problem+json': {
                schema: {
                  allOf: [
                    { $ref: '#/components/schemas/Problem' },
                    {
                      type: 'object',
                      properties: {
                        code: { type: 'string', enum: ['nope'] },
                        retry_after: { type: 'integer' },
                      },
                    },
                  ],
                },
              },
            },
          },
        },
      },
      delete: { operationId: 'deleteThing', responses: { '204': { description: '' } } },
    },
    '/things': {
      post: { operationId: 'createThing', responses: { '201': json({ type: 'object' }) } },
      get: { operationId: 'listThings', responses: { '2XX': json({ type: 'array' }) } },
    },
  },
  components: {
    schemas: {
      Thing: {
        type: 'object',
        required: ['id', 'size', 'owner', 'note', 'created_at'],
        properties: {
          id: { type: 'string' },
          size: { type: 'integer', minimum: 0, exclusiveMinimum: true, example: 3 },
          note: { type: 'string', nullable: true },
          kind: { type: 'string', enum: ['a', 'b', null], nullable: true },
          owner: {
            anyOf: [
              { $ref: '#/components/schemas/Owner' },
              { type: 'object', nullable: true, enum: [null] },
            ],
          },
          // `nullable` beside an allOf: OpenAPI 3.0.3 adds null to `type` only, and the allOf
          // still demands an Owner (what the Swagger module writes for a nullable DTO property).
          former_owner: {
            nullable: true,
            type: 'object',
            allOf: [{ $ref: '#/components/schemas/Owner' }],
          },
          // Nullable, but an enum without null: null is refused.
          grade: { type: 'string', enum: ['x'], nullable: true },
          labels: { type: 'object', additionalProperties: { type: 'string' } },
          created_at: { type: 'string', format: 'date-time' },
        },
      },
      Owner: {
        type: 'object',
        required: ['name'],
        properties: { name: { type: 'string' } },
      },
      Problem: {
        type: 'object',
        required: ['status', 'code'],
        properties: { status: { type: 'integer' }, code: { type: 'string' } },
      },
    },
  },
};

const THING = {
  id: 't1',
  size: 2,
  note: null,
  kind: null,
  owner: { name: 'Ann' },
  labels: { any: 'label' },
  created_at: '2026-11-22T17:00:00.000Z',
};

function get(body: unknown, status = 200, contentType = 'application/json'): ObservedResponse {
  return {
    method: 'GET',
    route: '/things/:thingId',
    status,
    contentType: `${contentType}; charset=utf-8`,
    body: JSON.stringify(body),
  };
}

describe('OpenApiResponseValidator', () => {
  const validator = new OpenApiResponseValidator(DOCUMENT);
  const kinds = (r: ObservedResponse) => validator.check(r).violations.map((v) => v.kind);
  const messages = (r: ObservedResponse) => validator.check(r).violations.map((v) => v.message);

  it('finds the operation by Fastify route template and accepts a conforming body', () => {
    expect(fastifyRoute('/a/{id}/b/{other}')).toBe('/a/:id/b/:other');
    const result = validator.check(get(THING));
    expect(result.operation).toEqual({ key: 'GET /things/{thingId}', operationId: 'getThing' });
    expect(result.violations).toEqual([]);
    expect(
      validator.check(get({ ...THING, owner: null, note: 'n', kind: 'a' })).violations,
    ).toEqual([]);
  });

  it('reports schema violations with their place in the body', () => {
    expect(messages(get({ ...THING, size: 0 }))).toEqual(['/size must be > 0']);
    expect(messages(get({ ...THING, kind: 'c' }))[0]).toMatch(/^\/kind must be equal to one of/);
    expect(messages(get({ ...THING, owner: { name: 5 } }))).toContain('/owner/name must be string');
    expect(messages(get({ ...THING, created_at: 'yesterday' }))).toEqual([
      '/created_at must match format "date-time"',
    ]);
    const { id: _id, ...withoutId } = THING;
    expect(messages(get(withoutId))).toEqual(["(body) must have required property 'id'"]);
  });

  it('reads nullable as OpenAPI 3.0.3 does: null added to its own type only', () => {
    expect(validator.check(get({ ...THING, former_owner: { name: 'Bo' } })).violations).toEqual([]);
    expect(kinds(get({ ...THING, former_owner: null }))).toContain('schema');
    expect(kinds(get({ ...THING, grade: null }))).toContain('schema');
    expect(kinds(get({ ...THING, grade: 'x' }))).toEqual([]);
  });

  it('reports undocumented properties unless the schema allows more', () => {
    expect(validator.check(get({ ...THING, secret: 1 })).violations).toMatchObject([
      { kind: 'undocumented_property', message: '(body)/secret is not documented' },
    ]);
    expect(kinds(get({ ...THING, owner: { name: 'Ann', age: 3 } }))).toEqual([
      'undocumented_property',
    ]);
    expect(kinds(get({ ...THING, labels: { more: 'fine' } }))).toEqual([]);
  });

  it('checks a problem against the shared schema narrowed by allOf', () => {
    const problem = (body: object) => get(body, 404, 'application/problem+json');
    expect(kinds(problem({ status: 404, code: 'nope' }))).toEqual([]);
    // A member of allOf may add members to the referenced component.
    expect(kinds(problem({ status: 404, code: 'nope', retry_after: 5 }))).toEqual([]);
    expect(kinds(problem({ status: 404, code: 'other' }))).toEqual(['schema']);
    expect(kinds(problem({ status: 404, code: 'nope', extra: true }))).toEqual([
      'undocumented_property',
    ]);
  });

  it('reports undocumented statuses (naming the problem code), content types and bodies', () => {
    expect(
      validator.check(get({ status: 409, code: 'taken' }, 409, 'application/problem+json')),
    ).toMatchObject({
      violations: [
        {
          kind: 'undocumented_status',
          operationId: 'getThing',
          message: 'status 409 (taken) is not documented (documented: 200, 404)',
        },
      ],
    });
    expect(kinds(get(THING, 200, 'text/html'))).toEqual(['undocumented_content_type']);
    expect(kinds({ ...get(THING), body: '{not json' })).toEqual(['invalid_json']);
    expect(kinds({ ...get(THING), body: '' })).toEqual(['missing_body']);
    expect(kinds({ ...get(THING), method: 'HEAD', body: '' })).toEqual([]);
    const deleted = { method: 'DELETE', route: '/things/:thingId', status: 204 };
    expect(kinds(deleted)).toEqual([]);
    expect(kinds({ ...deleted, contentType: 'application/json', body: '{}' })).toEqual([
      'undocumented_content_type',
    ]);
  });

  it('uses status ranges, and ignores routes the document does not describe', () => {
    const list = { method: 'GET', route: '/things', status: 203, contentType: 'application/json' };
    expect(kinds({ ...list, body: '[]' })).toEqual([]);
    expect(kinds({ ...list, body: '{}' })).toEqual(['schema']);
    expect(validator.check({ ...list, route: '/elsewhere', body: '{}' })).toEqual({
      violations: [],
    });
  });

  it('formats violations grouped by operation', () => {
    const violations = [
      ...validator.check(get({ ...THING, size: 0 })).violations,
      ...validator.check(get({ ...THING, size: 0 })).violations,
    ];
    expect(formatViolations(violations)).toBe(
      'GET /things/{thingId} (getThing)\n  200 schema: /size must be > 0',
    );
  });
});

@Controller('things')
class ThingsController {
  @Get(':thingId')
  get(): object {
    return { ...THING, size: -1 };
  }

  @Post()
  @HttpCode(202)
  create(): object {
    return {};
  }
}

@Module({ controllers: [ThingsController] })
class ThingsModule {}

describe('recordOpenApiResponses', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    app = await NestFactory.create<NestFastifyApplication>(ThingsModule, new FastifyAdapter(), {
      logger: false,
    });
    await app.init();
    recordOpenApiResponses(app, new OpenApiResponseValidator(DOCUMENT));
  });
  afterAll(() => app.close());

  it('records what each response broke, for the afterAll check of the test file', async () => {
    await app.inject({ method: 'GET', url: '/things/x' });
    await app.inject({ method: 'POST', url: '/things' });
    await app.inject({ method: 'GET', url: '/nowhere' });
    expect(takeViolations().map((v) => `${v.operationId} ${v.status} ${v.kind}`)).toEqual([
      'getThing 200 schema',
      'createThing 202 undocumented_status',
    ]);
    expect(takeViolations()).toEqual([]);
    resetOpenApiRecords(); // what the fake document's routes were called is not for the summary
  });
});

/** The real service's responses against the real openapi.json. */
describe('The service against openapi.json', () => {
  let t: TestApp;
  const validator = OpenApiResponseValidator.fromFile();

  beforeAll(async () => (t = await startTestApp()));
  afterAll(() => t.close());

  it('uploads an image whose response validates, and a tampered one does not', async () => {
    const admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
    const product = await call(t.app, 'POST', '/api/v1/products', admin, { name: 'Validated' });
    expect(product.statusCode).toBe(201);
    const productId = product.json<{ id: string }>().id;
    const form = multipart({ title: 'Front' }, [
      { filename: 'front.jpg', contentType: 'image/jpeg', data: await solidJpeg() },
    ]);
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/v1/products/${productId}/images`,
      headers: { authorization: `Bearer ${admin.bearer}`, ...form.headers },
      payload: form.payload,
    });
    expect(res.statusCode).toBe(201);
    const observed: ObservedResponse = {
      method: 'POST',
      route: '/api/v1/products/:productId/images',
      status: res.statusCode,
      contentType: res.headers['content-type'],
      body: res.body,
    };
    expect(validator.check(observed).violations).toEqual([]);
    const tampered = { ...res.json<Record<string, unknown>>(), width: 'wide', surprise: 1 };
    expect(
      validator
        .check({ ...observed, body: JSON.stringify(tampered) })
        .violations.map((v) => v.kind),
    ).toEqual(['schema', 'undocumented_property']);
  });

  /**
   * Refusals found by fuzzing the service from the document. Each answer is checked against the
   * operation of its path template: the router's own refusals, given before a route is matched,
   * are never seen by the recorder of the other tests.
   */
  describe('refusals of hostile input', () => {
    const GTIN = '4006381333931';
    const TOO_MUCH_JSON = JSON.stringify({ a: 'x'.repeat(1024 * 1024 + 10) });
    let admin: { bearer: string };
    let productId: string;
    let imageId: string;

    /** What the answer to `method url` breaks of the operation `method template`. */
    async function violations(
      method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
      template: string,
      url: string,
      body?: string | object,
    ): Promise<{ status: number; code?: string; violations: string[] }> {
      const res = await call(t.app, method, url, admin, body, {
        headers: typeof body === 'string' ? { 'content-type': 'application/json' } : {},
      });
      const found = validator.check({
        method,
        route: fastifyRoute(template),
        status: res.statusCode,
        contentType: res.headers['content-type'],
        body: res.body,
      }).violations;
      return {
        status: res.statusCode,
        code: res.json<{ code?: string }>().code,
        violations: found.map((v) => `${v.kind}: ${v.message}`),
      };
    }

    beforeAll(async () => {
      admin = { bearer: await login(t.app, { email: TEST_ADMIN.email }, TEST_ADMIN.password) };
      const product = await call(t.app, 'POST', '/api/v1/products', admin, {
        name: 'Fuzzed',
        gtin: GTIN,
        external_id: 'fuzzed-1',
      });
      expect(product.statusCode).toBe(201);
      productId = product.json<{ id: string }>().id;
      const form = multipart({}, [
        { filename: 'a.jpg', contentType: 'image/jpeg', data: await solidJpeg() },
      ]);
      const image = await call(
        t.app,
        'POST',
        `/api/v1/products/${productId}/images`,
        admin,
        form.payload,
        {
          headers: form.headers,
        },
      );
      expect(image.statusCode).toBe(201);
      imageId = image.json<{ id: string }>().id;
    });

    it.each([
      [
        '/api/v1/products/by-gtin/{gtin}/images/attach',
        `/api/v1/products/by-gtin/${GTIN}/images/attach`,
      ],
      ['/api/v1/products/by-gtin/{gtin}/images', `/api/v1/products/by-gtin/${GTIN}/images`],
      [
        '/api/v1/products/by-external-id/{externalId}/images/attach',
        '/api/v1/products/by-external-id/fuzzed-1/images/attach',
      ],
      [
        '/api/v1/products/by-external-id/{externalId}/images',
        '/api/v1/products/by-external-id/fuzzed-1/images',
      ],
    ])('POST %s with a malformed image_id: 400 invalid_id, documented', async (template, url) => {
      expect(await violations('POST', template, url, { image_id: 'nope' })).toEqual({
        status: 400,
        code: 'invalid_id',
        violations: [],
      });
    });

    it('a JSON body over JSON_BODY_LIMIT_BYTES to a DELETE or a body-less POST: 413, documented', async () => {
      const routes = [
        [
          'DELETE',
          '/api/v1/products/{productId}/images/{imageId}',
          `/api/v1/products/${productId}/images/${imageId}`,
        ],
        ['DELETE', '/api/v1/products/{productId}', `/api/v1/products/${productId}`],
        ['POST', '/api/v1/renditions/rebuilds', '/api/v1/renditions/rebuilds'],
      ] as const;
      for (const [method, template, url] of routes) {
        expect({ template, ...(await violations(method, template, url, TOO_MUCH_JSON)) }).toEqual({
          template,
          status: 413,
          code: 'payload_too_large',
          violations: [],
        });
      }
    });

    it.each([
      '/api/v1/images',
      '/image',
      '/upload/image',
      '/api/images',
      '/api/products/{product_id}/images',
      '/dashboard/api/v1/trade-items/{organization_id}/{gtin}/images',
    ])(
      'POST %s (multipart only) with malformed JSON, null or too much JSON: 415 unread, documented',
      async (template) => {
        const me = (await call(t.app, 'GET', '/api/v1/auth/me', admin)).json<{
          organization: { id: string };
        }>();
        const url = template
          .replace('{product_id}', 'fuzzed-1')
          .replace('{organization_id}', me.organization.id)
          .replace('{gtin}', GTIN);
        // Refused before the body is read (multipart-routes.ts): its parser never runs.
        for (const body of ['{', 'null', TOO_MUCH_JSON]) {
          expect(await violations('POST', template, url, body)).toMatchObject({
            status: 415,
            code: 'unsupported_media_type',
            violations: [],
          });
        }
      },
    );

    it.each([
      ['GET', '/api/v1/products/{productId}', '/api/v1/products/%E0%A4%A'],
      ['GET', '/api/v1/products/{productId}', `/api/v1/products/${'a'.repeat(600)}`],
      ['PATCH', '/api/v1/users/{id}', '/api/v1/users/%ED%A0%80'],
      ['GET', '/api/v1/imports/{importId}', '/api/v1/imports/%E0%A4%A'],
    ] as const)(
      '%s %s refused by the router: 400 malformed_url, documented',
      async (method, template, url) => {
        expect(await violations(method, template, url)).toEqual({
          status: 400,
          code: 'malformed_url',
          violations: [],
        });
      },
    );
  });
});
