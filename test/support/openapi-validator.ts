import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

/**
 * Checks actual responses against the OpenAPI 3.0 document: is the route documented, is the
 * status, is the content type, does the body validate against the schema documented for them, and
 * do the headers: each documented one sent validates against its schema, a documented ETag or
 * Location of a success is sent, and a Location, ETag or Retry-After sent is documented.
 * Schemas are converted to JSON Schema 2020-12 for ajv: `nullable` (strictly, as OpenAPI 3.0.3
 * defines it), `$ref`s into
 * `components.schemas`, and undocumented properties reported (`unevaluatedProperties`) unless a
 * schema allows them with `additionalProperties`.
 */
export const OPENAPI_FILE = join(__dirname, '..', '..', 'openapi.json');

export type ViolationKind =
  | 'undocumented_status'
  | 'undocumented_content_type'
  | 'missing_body'
  | 'invalid_json'
  | 'schema'
  | 'undocumented_property'
  | 'header'
  | 'missing_header'
  | 'undocumented_header';

export interface Violation {
  /** `METHOD /document/path`, e.g. `POST /api/v1/products/{productId}/images`. */
  operation: string;
  operationId?: string;
  status: number;
  kind: ViolationKind;
  message: string;
}

export interface ObservedResponse {
  method: string;
  /** The route template as Fastify has it (`request.routeOptions.url`): `/a/:id/b`. */
  route: string;
  status: number;
  contentType?: string;
  /** The body as sent: text, bytes, or undefined when there is none (or it was a stream). */
  body?: string | Buffer;
  /** True when the body was streamed, so its bytes are unknown here (files under /media). */
  streamed?: boolean;
  /** The response headers, lower-case names (`reply.getHeaders()`); not checked when absent. */
  headers?: Record<string, string | string[] | number | undefined>;
}

export interface CheckResult {
  /** Undefined when the route is not in the document at all. */
  operation?: { key: string; operationId?: string };
  violations: Violation[];
}

type Schema = Record<string, unknown>;
interface MediaType {
  schema?: Schema;
}
interface HeaderObject {
  $ref?: string;
  required?: boolean;
  schema?: Schema;
}
interface ResponseObject {
  content?: Record<string, MediaType>;
  headers?: Record<string, HeaderObject>;
}
interface Operation {
  operationId?: string;
  responses?: Record<string, ResponseObject>;
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, unknown>>;
  components?: { schemas?: Record<string, Schema>; headers?: Record<string, HeaderObject> };
}

/**
 * Whether a documented response is only in an error envelope of the route's own (a compatible
 * API's, Inventorum's: ApiOwnErrorBody): application/json, with no problem+json beside it.
 */
export function inOwnEnvelope(
  response: { content?: Record<string, unknown> } | undefined,
): boolean {
  const content = response?.content;
  return Boolean(content?.['application/json'] && !content['application/problem+json']);
}

/** Headers a success must send where its status documents them (see ApiResponseHeaders). */
const EXPECTED_SUCCESS_HEADERS = new Set(['etag', 'location']);
/** Headers a client acts on: when sent, the status must document them, to be read typed. */
const MUST_BE_DOCUMENTED = ['etag', 'location', 'retry-after'];

/** A header's text as its schema's type: `5` for an integer Retry-After. */
function headerValue(schema: Schema | undefined, text: string): unknown {
  const numeric = schema?.type === 'integer' || schema?.type === 'number';
  return numeric && /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const ROOT_ID = 'https://openapi.invalid/document';

/** `/a/{id}/b` → `/a/:id/b`, the form Fastify names routes by. */
export function fastifyRoute(openApiPath: string): string {
  return openApiPath.replace(/\{([^}]+)\}/g, ':$1');
}

function mediaTypeOf(contentType: string | undefined): string | undefined {
  return contentType?.split(';')[0].trim().toLowerCase() || undefined;
}

function isJson(mediaType: string): boolean {
  return mediaType === 'application/json' || mediaType.endsWith('+json');
}

/**
 * Where a schema stands, which decides whether it closes its object to undocumented properties:
 * `use`, a schema a value is checked against as a whole (a body, a property, an item), closes it;
 * a `member` of allOf/anyOf/oneOf and a component `definition` (which may be one of an allOf's
 * parts) leave that to where they are used. `unevaluatedProperties` sees through allOf and $ref.
 */
export type SchemaPlace = 'use' | 'member' | 'definition';

/** One OpenAPI 3.0 schema as JSON Schema 2020-12. */
export function toJsonSchema(schema: unknown, place: SchemaPlace = 'use'): unknown {
  if (Array.isArray(schema)) return schema.map((s) => toJsonSchema(s));
  if (!schema || typeof schema !== 'object') return schema;
  const source = schema as Schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(source)) {
    switch (key) {
      case '$ref':
        out.$ref = String(value).replace(/^#\/components\/schemas\//, `${ROOT_ID}#/$defs/`);
        break;
      case 'nullable':
      case 'example':
      case 'examples':
      case 'xml':
      case 'externalDocs':
      case 'discriminator':
      case 'deprecated':
        break;
      case 'properties':
      case 'patternProperties':
        out[key] = Object.fromEntries(
          Object.entries(value as Schema).map(([k, v]) => [k, toJsonSchema(v)]),
        );
        break;
      case 'allOf':
      case 'anyOf':
      case 'oneOf':
        out[key] = (value as unknown[]).map((s) => toJsonSchema(s, 'member'));
        break;
      case 'exclusiveMinimum':
      case 'exclusiveMaximum': {
        // OpenAPI 3.0: a boolean beside minimum/maximum; JSON Schema: the bound itself.
        const bound = key === 'exclusiveMinimum' ? 'minimum' : 'maximum';
        if (value === true && typeof source[bound] === 'number') out[key] = source[bound];
        else if (typeof value === 'number') out[key] = value;
        break;
      }
      default:
        out[key] =
          key === 'items' || key === 'additionalProperties' || key === 'not'
            ? toJsonSchema(value)
            : value;
    }
  }
  if (out.exclusiveMinimum !== undefined && source.exclusiveMinimum === true) delete out.minimum;
  if (out.exclusiveMaximum !== undefined && source.exclusiveMaximum === true) delete out.maximum;

  const describesObject = ['properties', 'allOf', 'anyOf', 'oneOf', '$ref'].some(
    (keyword) => out[keyword] !== undefined,
  );
  if (describesObject && place === 'use' && out.additionalProperties === undefined) {
    out.unevaluatedProperties = false;
  }
  // As OpenAPI 3.0.3 reads `nullable` (and strict validators with it): null added to this
  // schema's own `type`, nothing else; an `enum`, `allOf` or `$ref` beside it still applies to null.
  if (source.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  return out;
}

/** The `code` of a problem+json body, to name what an undocumented error was. */
function problemCode(response: ObservedResponse): string | undefined {
  if (mediaTypeOf(response.contentType) !== 'application/problem+json' || !response.body) return;
  try {
    const { code } = JSON.parse(response.body.toString()) as { code?: unknown };
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

export class OpenApiResponseValidator {
  private readonly ajv: Ajv2020;
  private readonly byRoute = new Map<string, { path: string; method: string; op: Operation }>();
  private readonly compiled = new Map<Schema, ValidateFunction>();

  constructor(readonly document: OpenApiDocument) {
    this.ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: true });
    addFormats(this.ajv);
    // OpenAPI's own formats, which say how a value is encoded rather than constrain it.
    for (const format of ['binary', 'byte', 'int32', 'int64', 'float', 'double', 'password']) {
      this.ajv.addFormat(format, true);
    }
    // RFC 6531's address (UTF-8 local part, internationalised domain), which ajv-formats lacks.
    this.ajv.addFormat('idn-email', /^[^\s@]+@[^\s@.]+(?:\.[^\s@.]+)+$/u);
    const defs = Object.fromEntries(
      Object.entries(document.components?.schemas ?? {}).map(([name, s]) => [
        name,
        toJsonSchema(s, 'definition'),
      ]),
    );
    this.ajv.addSchema({ $id: ROOT_ID, $defs: defs });
    for (const [path, item] of Object.entries(document.paths)) {
      for (const method of METHODS) {
        const op = item[method] as Operation | undefined;
        if (op)
          this.byRoute.set(`${method.toUpperCase()} ${fastifyRoute(path)}`, { path, method, op });
      }
    }
  }

  static fromFile(file = OPENAPI_FILE): OpenApiResponseValidator {
    return new OpenApiResponseValidator(JSON.parse(readFileSync(file, 'utf8')) as OpenApiDocument);
  }

  /** Every documented operation, as `METHOD /path` keys. */
  operations(): { key: string; operationId?: string }[] {
    return [...this.byRoute.values()].map(({ path, method, op }) => ({
      key: `${method.toUpperCase()} ${path}`,
      operationId: op.operationId,
    }));
  }

  check(response: ObservedResponse): CheckResult {
    const method = response.method.toUpperCase();
    // HEAD is answered by the GET route, without a body.
    const found =
      this.byRoute.get(`${method} ${response.route}`) ??
      (method === 'HEAD' ? this.byRoute.get(`GET ${response.route}`) : undefined);
    if (!found) return { violations: [] };
    const operation = {
      key: `${found.method.toUpperCase()} ${found.path}`,
      operationId: found.op.operationId,
    };
    const violation = (kind: ViolationKind, message: string): Violation => ({
      operation: operation.key,
      operationId: operation.operationId,
      status: response.status,
      kind,
      message,
    });
    const responses = found.op.responses ?? {};
    const documented =
      responses[String(response.status)] ??
      responses[`${String(response.status)[0]}XX`] ??
      responses.default;
    if (!documented) {
      const code = problemCode(response);
      return {
        operation,
        violations: [
          violation(
            'undocumented_status',
            `status ${response.status}${code ? ` (${code})` : ''} is not documented ` +
              `(documented: ${Object.keys(responses).join(', ')})`,
          ),
        ],
      };
    }
    const headerViolations = this.checkHeaders(response, documented).map(([kind, message]) =>
      violation(kind, message),
    );
    const body = this.checkBody(response, documented, violation);
    return { operation, violations: [...headerViolations, ...body] };
  }

  /** What is wrong with a response's headers, as documented for its status. */
  private checkHeaders(
    response: ObservedResponse,
    documented: ResponseObject,
  ): [ViolationKind, string][] {
    const sent = response.headers;
    if (!sent) return [];
    const success = response.status >= 200 && response.status < 300;
    const declared = new Map(
      Object.entries(documented.headers ?? {}).map(([name, header]) => [
        name.toLowerCase(),
        { name, header: this.resolveHeader(header) },
      ]),
    );
    const found: [ViolationKind, string][] = [];
    for (const [key, { name, header }] of declared) {
      const value = sent[key];
      if (value === undefined) {
        if (header.required || (success && EXPECTED_SUCCESS_HEADERS.has(key))) {
          found.push(['missing_header', `${name} is documented, none was sent`]);
        }
        continue;
      }
      for (const text of Array.isArray(value) ? value : [String(value)]) {
        if (!header.schema) continue;
        for (const e of this.validate(header.schema, headerValue(header.schema, text))) {
          found.push(['header', `${name} ${JSON.stringify(text)} ${e.message ?? e.keyword}`]);
        }
      }
    }
    for (const key of MUST_BE_DOCUMENTED) {
      if (sent[key] !== undefined && !declared.has(key)) {
        found.push(['undocumented_header', `${key} was sent, not documented for this status`]);
      }
    }
    return found;
  }

  private resolveHeader(header: HeaderObject): HeaderObject {
    const name = /^#\/components\/headers\/(.+)$/.exec(header.$ref ?? '')?.[1];
    if (!name) return header;
    const resolved = this.document.components?.headers?.[name];
    if (!resolved) throw new Error(`openapi.json: no header ${name} for ${header.$ref}`);
    return resolved;
  }

  /** What is wrong with a response's content type and body, as documented for its status. */
  private checkBody(
    response: ObservedResponse,
    documented: ResponseObject,
    violation: (kind: ViolationKind, message: string) => Violation,
  ): Violation[] {
    const method = response.method.toUpperCase();
    const content = documented.content ?? {};
    const mediaType = mediaTypeOf(response.contentType);
    const hasBody = response.streamed || (response.body !== undefined && response.body.length > 0);
    if (!hasBody || method === 'HEAD') {
      const bodyless = method === 'HEAD' || response.status === 204 || response.status === 304;
      if (Object.keys(content).length > 0 && !bodyless) {
        return [violation('missing_body', 'a body is documented, none was sent')];
      }
      return [];
    }
    const media =
      (mediaType && content[mediaType]) ??
      Object.entries(content).find(
        ([k]) =>
          k === '*/*' || (mediaType && k.endsWith('/*') && mediaType.startsWith(k.slice(0, -1))),
      )?.[1];
    if (!media) {
      return [
        violation(
          'undocumented_content_type',
          `${mediaType ?? 'a body without Content-Type'} is not documented for ${response.status}` +
            ` (documented: ${Object.keys(content).join(', ') || 'no body'})`,
        ),
      ];
    }
    if (!media.schema || !mediaType || !isJson(mediaType) || response.streamed) return [];
    let body: unknown;
    try {
      body = JSON.parse(response.body!.toString());
    } catch {
      return [violation('invalid_json', 'the body is not JSON')];
    }
    return this.validate(media.schema, body).map((e) =>
      e.keyword === 'unevaluatedProperties'
        ? violation(
            'undocumented_property',
            `${e.instancePath || '(body)'}/${String(e.params.unevaluatedProperty)} is not documented`,
          )
        : violation('schema', `${e.instancePath || '(body)'} ${e.message ?? e.keyword}`),
    );
  }

  /** The errors of a value against an OpenAPI schema (none when it validates). */
  validate(schema: Schema, value: unknown): ErrorObject[] {
    let validate = this.compiled.get(schema);
    if (!validate) {
      validate = this.ajv.compile(toJsonSchema(schema) as Schema);
      this.compiled.set(schema, validate);
    }
    if (validate(value)) return [];
    // A nullable schema is `anyOf: [schema, {type: 'null'}]`: for a value that is not null, the
    // errors of the schema explain it, not "must be null" nor "must match a schema in anyOf".
    return (validate.errors ?? []).filter(
      (e) =>
        e.keyword !== 'anyOf' && !(e.keyword === 'type' && e.schemaPath.endsWith('/anyOf/1/type')),
    );
  }
}

/** Violations as readable lines, grouped by operation. */
export function formatViolations(violations: Violation[]): string {
  const byOperation = new Map<string, Violation[]>();
  for (const v of violations) {
    const key = `${v.operation}${v.operationId ? ` (${v.operationId})` : ''}`;
    byOperation.set(key, [...(byOperation.get(key) ?? []), v]);
  }
  const lines: string[] = [];
  for (const [operation, list] of [...byOperation].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(operation);
    const seen = new Set<string>();
    for (const v of list) {
      const line = `  ${v.status} ${v.kind}: ${v.message}`;
      if (!seen.has(line)) lines.push(line);
      seen.add(line);
    }
  }
  return lines.join('\n');
}
