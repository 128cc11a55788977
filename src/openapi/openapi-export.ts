import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OpenAPIObject } from '@nestjs/swagger';
import { createApp } from '../app.factory';
import { buildOpenApiDocument } from './openapi';

/**
 * The configuration the exported document is built with: fixed, so that neither `.env` nor the
 * caller's environment can change openapi.json. The database is an embedded PGlite in a temporary
 * directory and storage is local, so the export needs no server, storage or network.
 */
function exportEnv(dataDir: string): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    STORAGE_DRIVER: 'local',
    ADMIN_PASSWORD: 'openapi-export-only-password',
  };
}

/**
 * The OpenAPI document of the real application (createApp, as `main.ts` and the tests build it),
 * in canonical form: what `npm run openapi` writes to openapi.json.
 */
export async function exportOpenApiDocument(): Promise<OpenAPIObject> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pis-openapi-'));
  try {
    const app = await createApp({ env: exportEnv(dataDir) });
    try {
      return canonicalOpenApi(buildOpenApiDocument(app));
    } finally {
      await app.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const byName = (entries: [string, Json][]): [string, Json][] =>
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/**
 * A copy of the document whose key order depends on the API only, not on the order in which Nest
 * met things: component maps (schemas, responses, …) sorted by name, and each operation's
 * responses by status. Paths keep their order (grouped by controller), and schema properties
 * their declaration order, which readers and generated SDKs show as is.
 */
export function canonicalOpenApi(document: OpenAPIObject): OpenAPIObject {
  const copy = JSON.parse(JSON.stringify(document)) as { [key: string]: Json };
  const components = copy.components as { [key: string]: { [key: string]: Json } } | undefined;
  if (components) {
    for (const [kind, map] of Object.entries(components)) {
      components[kind] = Object.fromEntries(byName(Object.entries(map)));
    }
  }
  const paths = (copy.paths ?? {}) as { [path: string]: { [method: string]: Json } };
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      if (!operation || typeof operation !== 'object' || Array.isArray(operation)) continue;
      const responses = operation.responses;
      if (responses && typeof responses === 'object' && !Array.isArray(responses)) {
        operation.responses = Object.fromEntries(byName(Object.entries(responses)));
      }
    }
  }
  return copy as unknown as OpenAPIObject;
}
