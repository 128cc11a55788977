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

/**
 * What answers `/console/<path>` once it is known whether the file {@link consoleFileFor} names
 * is in the build (`exists`) and whether the browser is opening a page there (`navigation`: the
 * address typed, a link or bookmark followed, a reload). A page opened at a name the build has
 * no file for (`/console/products/shoe.jpg`, a link whose last segment holds a dot, as a pasted
 * or mangled one may) is a client-side route like any other: answered with the console's page,
 * whose router then says that nothing is there, rather than with the API's problem+json, which
 * a browser shows as raw JSON. The page never holds the path (nothing of it is reflected). A
 * script, style or image fetched at a missing name (a stale bundle's) stays a missing file (404),
 * as does anything under `assets/`, the bundle's own folder: HTML is no script.
 */
export function consoleAnswerFor(
  path: string,
  exists: (file: string) => boolean,
  navigation: boolean,
): string | undefined {
  const file = consoleFileFor(path);
  if (file === undefined || file === CONSOLE_PAGE || exists(file)) return file;
  return navigation && !isHashedAsset(file) ? CONSOLE_PAGE : file;
}

/**
 * Whether a request opens a page (a navigation): its `Sec-Fetch-Mode` says so, or, from a browser
 * that sends none, it asks for HTML first of all.
 */
export function isNavigation(headers: Record<string, string | string[] | undefined>): boolean {
  const mode = headers['sec-fetch-mode'];
  if (typeof mode === 'string') return mode === 'navigate';
  const accept = headers.accept;
  return typeof accept === 'string' && /^\s*text\/html\s*(?:[;,]|$)/i.test(accept);
}

/** Vite names the bundled files after their content: they never change under their names. */
export function isHashedAsset(file: string): boolean {
  return file.startsWith('assets/');
}
