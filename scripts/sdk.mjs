// Generates the TypeScript client of openapi.json into .tmp/sdk (ignored), with @hey-api/openapi-ts:
// what a user of the API does (see the README). test/e2e/sdk.e2e-spec.ts drives the service with it;
// `npm run typecheck` generates it first, since that test imports it.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SDK_DIR = join(ROOT, '.tmp', 'sdk');

const require = createRequire(import.meta.url);
const cli = join(dirname(require.resolve('@hey-api/openapi-ts/package.json')), 'bin', 'run.js');

rmSync(SDK_DIR, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [cli, '--input', join(ROOT, 'openapi.json'), '--output', SDK_DIR, '--silent', '--no-log-file'],
  { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
);

// The client's runtime (client/, core/) is written for a DOM lib (BodyInit), which this project's
// tsconfig does not load: leave it unchecked, like any dependency. The API's own types
// (types.gen.ts, sdk.gen.ts) stay type-checked.
for (const folder of ['client', 'core']) {
  for (const name of readdirSync(join(SDK_DIR, folder))) {
    const file = join(SDK_DIR, folder, name);
    writeFileSync(file, `// @ts-nocheck\n${readFileSync(file, 'utf8')}`);
  }
}
