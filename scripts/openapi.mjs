// The API contract, reproduced from the code:
//
//   node scripts/openapi.mjs           (npm run openapi)        writes openapi.json
//   node scripts/openapi.mjs --check   (npm run openapi:check)  exits 1 when it differs from the code
//
// openapi.json is the document of the compiled application (dist/, built first when stale, with
// the @nestjs/swagger plugin of nest-cli.json), created by createApp() as main.ts creates it, on an
// embedded PGlite database in a temporary directory: no database server, no storage, no network.
// See src/openapi/openapi-export.ts for the fixed configuration and the canonical key order.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as prettier from 'prettier';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DOCUMENT_FILE = join(ROOT, 'openapi.json');

/** The text openapi.json must have: the document of the compiled application, formatted. */
async function generateDocument() {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'ensure-build.mjs')], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const { exportOpenApiDocument } = await import(
    pathToFileURL(join(ROOT, 'dist', 'src', 'openapi', 'openapi-export.js')).href
  );
  const document = await exportOpenApiDocument();
  const options = (await prettier.resolveConfig(DOCUMENT_FILE)) ?? {};
  return prettier.format(JSON.stringify(document, null, 2), {
    ...options,
    filepath: DOCUMENT_FILE,
  });
}

/** Where two texts first differ, for the error message. */
function firstDifference(generated, committed) {
  if (committed === undefined) return '  openapi.json does not exist';
  const a = generated.split('\n');
  const b = committed.split('\n');
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) {
      const show = (line) => (line === undefined ? '(end of file)' : line.trim().slice(0, 160));
      return [
        `  first difference at line ${i + 1}:`,
        `    committed: ${show(b[i])}`,
        `    generated: ${show(a[i])}`,
      ].join('\n');
    }
  }
  return '';
}

async function main() {
  const check = process.argv.includes('--check');
  const document = await generateDocument();
  const committed = existsSync(DOCUMENT_FILE) ? readFileSync(DOCUMENT_FILE, 'utf8') : undefined;
  if (committed === document) {
    console.log('openapi.json is up to date');
  } else if (check) {
    console.error('openapi.json differs from the document the code produces.');
    console.error(firstDifference(document, committed));
    console.error('Run `npm run openapi` and commit openapi.json.');
    process.exitCode = 1;
  } else {
    writeFileSync(DOCUMENT_FILE, document);
    console.log('Wrote openapi.json');
  }
}

main().then(
  // The application and its database are closed; do not wait for libraries' stray timers.
  () => process.exit(),
  (err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
