// Runs before `npm start`: builds dist/ when it is missing or older than any source file, so that
// `npm install && npm start` works on a fresh clone and never serves stale code. With `--always`
// it is `npm run build`, which builds whatever the stamp says. The build: the service (nest build,
// which empties dist/ first), then the console (Vite, into dist/console) on the client generated
// from openapi.json into .tmp/sdk; then the stamp, so that what runs next (`npm start`, the
// OpenAPI check, the tests' set-up) does not build it all again.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const STAMP = join('dist', '.build-stamp');
const INPUTS = [
  'src',
  'migrations',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'nest-cli.json',
  'console',
  'openapi.json',
];

function newest(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce(
    (max, name) => Math.max(max, newest(join(path, name))),
    stat.mtimeMs,
  );
}

const built = existsSync(STAMP) ? statSync(STAMP).mtimeMs : 0;
const sources = Math.max(...INPUTS.map(newest));
const complete = ['src/main.js', 'console/index.html'].every((file) =>
  existsSync(join('dist', file)),
);
// No sources at all (the Docker image: dist/ alone, built in its build stage): nothing to build.
const always = process.argv.includes('--always');
if (!always && complete && (built >= sources || !existsSync('src'))) process.exit(0);

// On stderr, build output included: stdout belongs to the command this runs before (`npm run
// cli -- reset-password` prints JSON there, which a script reads).
if (!always) {
  console.error(built ? 'Sources changed since the last build; rebuilding…' : 'Building…');
}
const run = (...args) =>
  execFileSync(process.execPath, args, { stdio: ['ignore', process.stderr, 'inherit'] });
run(join('node_modules', '@nestjs', 'cli', 'bin', 'nest.js'), 'build');
// The console's client, unless it is already the one of openapi.json (the tests' set-up makes it
// first, and regenerating it would pull it from under anything reading it).
const SDK = join('.tmp', 'sdk', 'sdk.gen.ts');
if (!existsSync(SDK) || statSync(SDK).mtimeMs < statSync('openapi.json').mtimeMs) {
  run(join('scripts', 'sdk.mjs'));
}
run(
  join('node_modules', 'vite', 'bin', 'vite.js'),
  'build',
  '--config',
  join('console', 'vite.config.mjs'),
);
writeFileSync(STAMP, new Date().toISOString() + '\n');
