// @ts-check
// The console's build: console/ → dist/console, served by the service at /console (src/console/).
// Plain files, nothing inline (the page's Content-Security-Policy allows none), named by content.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/console/',
  // The client generated from openapi.json (npm run sdk writes it to .tmp/sdk).
  resolve: { alias: { '@sdk': here('../.tmp/sdk') } },
  // Production JSX whatever NODE_ENV says: unset (as in the Docker image's build stage, or a
  // shell), the JSX transform took the development runtime, each element carrying its file name
  // and line (150 KB of script, not 114 KB).
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact', development: false } },
  build: {
    outDir: here('../dist/console'),
    emptyOutDir: true,
    target: 'es2022',
    // No inline script or data: URL (the polyfill is inline, and every supported browser has
    // modulepreload); small assets stay files too.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
  logLevel: 'warn',
});
