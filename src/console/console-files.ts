import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

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
 * The file that answers `/console/<path>`: a path whose last segment names a file (has an
 * extension) is that file, and anything else is a client-side route (`products/<id>`), answered
 * with the page, so that a bookmarked or reloaded view opens (the SPA fallback).
 */
export function consoleFileFor(path: string): string {
  const last = path.slice(path.lastIndexOf('/') + 1);
  return last.includes('.') ? path : CONSOLE_PAGE;
}

/** Vite names the bundled files after their content: they never change under their names. */
export function isHashedAsset(file: string): boolean {
  return file.startsWith('assets/');
}
