// `npm run openapi:generators`: openapi.json as three client generators our users run read it.
//
// Each of openapi-typescript, orval and swagger-typescript-api (pinned in
// tools/openapi-generators/, installed there from its lockfile on first use) generates a client
// into .tmp/openapi-generators/; then the generated code and the consumers in
// tools/openapi-generators/consumers/ are type-checked, strictly, with that folder's TypeScript.
// A consumer compiles only if its generator types what clients need: an upload's image as a
// Blob/File, integers as numbers, and (openapi-typescript) the response headers.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TOOLS = join(ROOT, 'tools', 'openapi-generators');
const OUT = join(ROOT, '.tmp', 'openapi-generators');
const DOCUMENT = join(ROOT, 'openapi.json');
const bin = (name) => join(TOOLS, 'node_modules', '.bin', name);

function run(file, args, cwd = ROOT) {
  execFileSync(file, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
}

if (!existsSync(join(TOOLS, 'node_modules', '.package-lock.json'))) {
  console.log('Installing the generators (tools/openapi-generators, from its lockfile)…');
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], TOOLS);
}
rmSync(OUT, { recursive: true, force: true });
mkdirSync(join(OUT, 'openapi-typescript'), { recursive: true });

// openapi-typescript types `format: binary` as string; its documentation's transform makes it a
// Blob, which is what a browser or Node 20+ client sends.
const { default: openapiTS, astToString } = await import(
  pathToFileURL(join(TOOLS, 'node_modules', 'openapi-typescript', 'dist', 'index.mjs')).href
);
const { default: ts } = await import(
  pathToFileURL(join(TOOLS, 'node_modules', 'typescript', 'lib', 'typescript.js')).href
);
const blob = ts.factory.createTypeReferenceNode(ts.factory.createIdentifier('Blob'));
const ast = await openapiTS(JSON.parse(readFileSync(DOCUMENT, 'utf8')), {
  transform: (schema) => (schema.format === 'binary' ? blob : undefined),
});
writeFileSync(join(OUT, 'openapi-typescript', 'schema.ts'), astToString(ast));

run(bin('orval'), [
  '--input',
  DOCUMENT,
  '--output',
  join(OUT, 'orval', 'api.ts'),
  '--client',
  'fetch',
]);
run(bin('swagger-typescript-api'), [
  'generate',
  '--path',
  DOCUMENT,
  '--output',
  join(OUT, 'swagger-typescript-api'),
  '--name',
  'api.ts',
  '--silent',
]);

run(bin('tsc'), ['-p', join(TOOLS, 'tsconfig.json')]);
console.log('openapi-typescript, orval and swagger-typescript-api: generated clients type-check');
