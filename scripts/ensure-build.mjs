// Runs before `npm start`: builds dist/ when it is missing or older than any source file, so that
// `npm install && npm start` works on a fresh clone and never serves stale code.
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
if (built >= sources && existsSync(join('dist', 'src', 'main.js'))) process.exit(0);

// On stderr, build output included: stdout belongs to the command this runs before (`npm run
// cli -- reset-password` prints JSON there, which a script reads).
console.error(built ? 'Sources changed since the last build; rebuilding…' : 'Building…');
execFileSync(
  process.execPath,
  [join('node_modules', '@nestjs', 'cli', 'bin', 'nest.js'), 'build'],
  { stdio: ['ignore', process.stderr, 'inherit'] },
);
writeFileSync(STAMP, new Date().toISOString() + '\n');
