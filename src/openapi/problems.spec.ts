import 'reflect-metadata';
import { Controller, Get, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import {
  ApiCreatedResponse,
  ApiOkResponse,
  ApiProperty,
  DocumentBuilder,
  SwaggerModule,
} from '@nestjs/swagger';
import { ERROR_CODES, errorStatus, type ErrorCode } from '../common/errors/error-codes';
import { ProblemDetailsDto } from '../common/errors/problem-details.dto';
import {
  ApiProblems,
  ApiSuccessExample,
  applyProblemResponses,
  PROBLEMS,
  problemExample,
  problemResponse,
} from './problems';

class ThingDto {
  @ApiProperty()
  name!: string;
}

abstract class SharedRoutes {
  @Get('shared')
  @ApiOkResponse({ type: ThingDto })
  shared(): ThingDto {
    return { name: 'x' };
  }
}

@Controller('things')
@ApiProblems('insufficient_role')
class ThingsController extends SharedRoutes {
  @Post()
  @ApiProblems(...PROBLEMS.jsonBody, 'slug_taken')
  @ApiProblems('insufficient_scope', 'validation_failed', 'insufficient_scope')
  @ApiSuccessExample({ value: { name: 'Front' }, summary: 'A thing' })
  @ApiCreatedResponse({ type: ThingDto }) // in the service, the CLI plugin infers this one
  create(): ThingDto {
    return { name: 'x' };
  }

  @Get('plain')
  @ApiOkResponse({ type: ThingDto })
  plain(): ThingDto {
    return { name: 'x' };
  }
}

@Module({ controllers: [ThingsController] })
class ThingsModule {}

interface Media {
  schema: { allOf: { properties: { code: { enum: string[] } } }[] };
  examples: Record<string, { value: unknown }>;
}
type Responses = Record<string, { description: string; content?: Record<string, Media> }>;

describe('ApiProblems / ApiSuccessExample', () => {
  let app: INestApplication;
  let paths: Record<string, Record<string, { responses: Responses; [k: string]: unknown }>>;

  beforeAll(async () => {
    app = await NestFactory.create(ThingsModule, new FastifyAdapter(), { logger: false });
    const document = SwaggerModule.createDocument(app, new DocumentBuilder().build(), {
      extraModels: [ProblemDetailsDto],
    });
    applyProblemResponses(document);
    paths = document.paths as typeof paths;
  });
  afterAll(() => app.close());

  it('documents each status once, as problem+json narrowed to its codes', () => {
    const responses = paths['/things'].post.responses;
    expect(Object.keys(responses).sort()).toEqual(['201', '400', '403', '409', '413', '415']);
    const bad = responses['400'].content!['application/problem+json'];
    expect(bad.schema).toEqual({
      allOf: [
        { $ref: '#/components/schemas/ProblemDetailsDto' },
        {
          type: 'object',
          properties: {
            status: { type: 'integer', enum: [400] },
            code: { type: 'string', enum: ['validation_failed', 'malformed_json'] },
          },
        },
      ],
    });
    expect(Object.keys(bad.examples)).toEqual(['validation_failed', 'malformed_json']);
    expect(bad.examples.malformed_json.value).toMatchObject({
      status: 400,
      code: 'malformed_json',
      type: 'urn:product-images:problem:malformed_json',
    });
    expect(responses['400'].description).toContain('`malformed_json`');
  });

  it('adds up several decorators and a class-level one, without duplicates', () => {
    const forbidden = paths['/things'].post.responses['403'].content!['application/problem+json'];
    expect(forbidden.schema.allOf[1].properties.code.enum).toEqual([
      'insufficient_scope',
      'insufficient_role',
    ]);
    expect(paths['/things/plain'].get.responses['403']).toBeDefined();
  });

  it('reaches routes inherited from a base class when put on the class', () => {
    const shared = paths['/things/shared'].get.responses;
    expect(shared['403'].content!['application/problem+json'].schema.allOf[1]).toMatchObject({
      properties: { code: { enum: ['insufficient_role'] } },
    });
    expect(shared['200'].content!['application/json'].schema).toEqual({
      $ref: '#/components/schemas/ThingDto',
    });
  });

  it('adds a success example beside the inferred schema, and leaves no extension behind', () => {
    const created = paths['/things'].post.responses['201'];
    expect(created.content!['application/json'].examples).toEqual({
      example: { summary: 'A thing', value: { name: 'Front' } },
    });
    expect(JSON.stringify(paths)).not.toMatch(/x-problems|x-success-examples/);
  });

  it('keeps the description of a status the route documents itself', () => {
    const document = {
      openapi: '3.0.0',
      info: { title: 't', version: '1' },
      paths: {
        '/ready': {
          get: {
            responses: { '503': { description: 'A dependency is down' } },
            'x-problems': ['not_ready'],
          },
        },
      },
    };
    applyProblemResponses(document);
    const unavailable = document.paths['/ready'].get.responses['503'] as Responses[string];
    expect(unavailable.description).toMatch(/^A dependency is down\n\n/);
    expect(unavailable.content).toHaveProperty('application/problem+json');
  });

  it('refuses unknown codes and ambiguous success examples', () => {
    expect(() => ApiProblems('no_such_code' as ErrorCode)).toThrow(/unknown error code/);
    const document = {
      openapi: '3.0.0',
      info: { title: 't', version: '1' },
      paths: {
        '/x': {
          get: {
            operationId: 'x',
            responses: { '200': { description: '' }, '201': { description: '' } },
            'x-success-examples': [{ value: 1 }],
          },
        },
      },
    };
    expect(() => applyProblemResponses(document)).toThrow(/say which status/);
  });

  it('documents the extension members a code adds, in its schema and its example', () => {
    const response = problemResponse(412, ['gallery_changed']);
    const media = response.content!['application/problem+json'] as unknown as Media;
    expect(media.schema.allOf[1].properties).toHaveProperty('current_version');
    expect(media.examples.gallery_changed.value).toMatchObject({ current_version: 7 });
    expect(problemExample('product_not_found')).not.toHaveProperty('current_version');
  });

  it('gives every code an example whose status is the one error-codes.ts maps it to', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const example = problemExample(code);
      expect(example).toMatchObject({ code, status: errorStatus(code) });
      const response = problemResponse(errorStatus(code), [code]);
      expect(response.content?.['application/problem+json'].examples).toHaveProperty(code);
    }
  });
});
