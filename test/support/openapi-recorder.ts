import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  formatViolations,
  OpenApiResponseValidator,
  type ObservedResponse,
  type Violation,
} from './openapi-validator';

/**
 * Every response of every e2e test checked against openapi.json. startTestApp() calls
 * {@link recordOpenApiResponses} on each app it starts; test/support/openapi-setup.ts fails a test
 * file whose responses broke the document, and records which operations it called, so that
 * test/support/openapi-teardown.ts can list the documented operations no test called.
 */
export const RESULTS_DIR = join(__dirname, '..', '..', 'test-output', 'openapi-responses');

let defaultValidator: OpenApiResponseValidator | undefined;
const violations: Violation[] = [];
const called = new Set<string>();
const undocumentedRoutes = new Set<string>();
/**
 * Routes deliberately not in the document: Swagger UI, the console's page, stored files, metrics,
 * test probes.
 */
const NOT_DOCUMENTED = [
  /^\/docs(-json|-yaml|\/|$)/,
  /^\/console(\/|$)/,
  /^\/media\//,
  /^\/metrics$/,
  /^\/api\/v1\/probe\//,
];

function observe(validator: OpenApiResponseValidator, response: ObservedResponse): void {
  const result = validator.check(response);
  if (result.operation) called.add(result.operation.key);
  else if (response.method !== 'OPTIONS' && !NOT_DOCUMENTED.some((r) => r.test(response.route))) {
    undocumentedRoutes.add(`${response.method} ${response.route}`);
  }
  violations.push(...result.violations);
}

function isStream(payload: unknown): payload is Readable {
  return !!payload && typeof (payload as Readable).pipe === 'function';
}

/**
 * Checks each response of this app against openapi.json (or the given document's validator).
 * Install it before the app serves its first request.
 */
export function recordOpenApiResponses(
  app: NestFastifyApplication,
  validator: OpenApiResponseValidator = (defaultValidator ??= OpenApiResponseValidator.fromFile()),
): void {
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onSend', async (request, reply, payload) => {
    const route = request.routeOptions?.url;
    if (route) {
      const streamed = isStream(payload);
      observe(validator, {
        method: request.method,
        route,
        status: reply.statusCode,
        contentType: reply.getHeader('content-type') as string | undefined,
        body: streamed ? undefined : ((payload as string | Buffer | null | undefined) ?? undefined),
        streamed,
        headers: reply.getHeaders(),
      });
    }
    return payload;
  });
}

/** Forgets everything recorded in this test file (for tests of the recorder itself). */
export function resetOpenApiRecords(): void {
  violations.length = 0;
  called.clear();
  undocumentedRoutes.clear();
}

/** The violations recorded so far in this test file, and forgets them. */
export function takeViolations(): Violation[] {
  return violations.splice(0, violations.length);
}

export interface FileResults {
  testPath: string;
  called: string[];
  violations: Violation[];
  undocumentedRoutes: string[];
}

/** Saves this test file's results for the summary (see openapi-teardown.ts). */
export function saveResults(testPath: string, fileViolations: Violation[]): void {
  if (called.size === 0 && fileViolations.length === 0 && undocumentedRoutes.size === 0) return;
  mkdirSync(RESULTS_DIR, { recursive: true });
  const name = createHash('sha1').update(testPath).digest('hex').slice(0, 12);
  const results: FileResults = {
    testPath,
    called: [...called].sort(),
    violations: fileViolations,
    undocumentedRoutes: [...undocumentedRoutes].sort(),
  };
  writeFileSync(join(RESULTS_DIR, `${name}.json`), JSON.stringify(results, null, 2));
}

export function clearResults(): void {
  rmSync(RESULTS_DIR, { recursive: true, force: true });
}

export function readResults(): FileResults[] {
  let names: string[];
  try {
    names = readdirSync(RESULTS_DIR).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names.map((n) => JSON.parse(readFileSync(join(RESULTS_DIR, n), 'utf8')) as FileResults);
}

/** The summary printed after an e2e run. */
export function summarise(results: FileResults[]): string {
  const all = OpenApiResponseValidator.fromFile().operations();
  const called = new Set(results.flatMap((r) => r.called));
  const uncalled = all.filter((o) => !called.has(o.key));
  const violations = results.flatMap((r) => r.violations);
  const undocumented = [...new Set(results.flatMap((r) => r.undocumentedRoutes))].sort();
  const lines = [
    `OpenAPI responses: ${called.size} of ${all.length} documented operations called by the e2e tests, ` +
      `${violations.length} violation(s).`,
  ];
  if (uncalled.length) {
    lines.push('Documented operations no e2e test called:');
    for (const o of uncalled) lines.push(`  ${o.key}${o.operationId ? ` (${o.operationId})` : ''}`);
  }
  if (undocumented.length) {
    lines.push('Routes called that the document does not describe:');
    for (const r of undocumented) lines.push(`  ${r}`);
  }
  if (violations.length) lines.push('Violations:', formatViolations(violations));
  return lines.join('\n');
}
