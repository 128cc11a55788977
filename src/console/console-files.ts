import { existsSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';

/** The console's page: every client-side route answers it (the console routes in the browser). */
export const CONSOLE_PAGE = 'index.html';

/**
 * Where `npm run build` writes the console (Vite's output, console/vite.config.mjs): dist/console
 * of the package, whether the service runs compiled (dist/src/console/) or from its sources
 * (src/console/, as the tests run it).
 */
export function consoleBuildDir(from = __dirname): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`No package.json above ${from}`);
    dir = parent;
  }
  return join(dir, 'dist', 'console');
}

/**
 * A `..` segment, between slashes or backslashes (which the file sender takes as separators too),
 * or a NUL: no file or view of the console is named so. The router has decoded the path already,
 * so `%2e%2e`, `%2E%2E%2F` and `..%5c` are caught here as `..`.
 */
const NOT_A_CONSOLE_PATH = /(?:^|[\\/])\.\.(?:[\\/]|$)|\0/;

/**
 * The file that answers `/console/<path>`: a path whose last segment names a file (has an
 * extension) is that file, and anything else is a client-side route (`products/<id>`), answered
 * with the page, so that a bookmarked or reloaded view opens (the SPA fallback). Undefined for a
 * path that climbs out of its folder or holds a NUL, and for a file named otherwise than plainly
 * (`./`, `//`, a backslash): answered as a missing file is (404), as
 * /media answers one, rather than with the sender's 403 or 400 (which told the path apart) or
 * the page.
 */
export function consoleFileFor(path: string): string | undefined {
  if (NOT_A_CONSOLE_PATH.test(path)) return undefined;
  const last = path.slice(path.lastIndexOf('/') + 1);
  if (!last.includes('.')) return CONSOLE_PAGE;
  // A file is named one way only: `./index.html`, `assets//x.js` or a backslash (the sender's
  // 403 too) name none.
  return path.includes('\\') || posix.normalize(path) !== path ? undefined : path;
}

/** Vite names the bundled files after their content: they never change under their names. */
export function isHashedAsset(file: string): boolean {
  return file.startsWith('assets/');
}
