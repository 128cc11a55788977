'use strict';
/**
 * Sanitises one SVG in a child process (see svg-sanitize.ts), so that parsing and checking a tree
 * of up to MAX_SVG_MARKUP elements (half a second, more on a loaded machine) never holds the
 * service's event loop, and so that an SVG whose check outgrows the heap it is given ends this
 * process alone, never the service.
 *
 * Plain CommonJS, like svg-render.child.cjs, so that this one entry runs from dist/ (nest build
 * copies it, see nest-cli.json's assets) and from src/ under the tests. It loads the sanitiser
 * module it is given: the compiled svg-sanitizer.js next to it in dist/; under Jest, the
 * TypeScript source, compiled here by @swc/core (the compiler Jest's own transform uses, a
 * development dependency, so never needed in production). The sanitiser imports nothing of the
 * project, so compiling that one file is all it takes. Keeping the sanitiser in TypeScript (not a
 * CommonJS copy with a .d.ts) keeps it type-checked and its tests unchanged.
 *
 * Argument: the sanitiser module's path.
 * In:  one message (IPC, advanced serialisation), the SVG's bytes.
 * Out: one message, { output } (the sanitised SVG), { reason, detail } (an SvgRejectedError) or
 *      { error } (anything else, a message), then the process ends. It ends too, unanswered, once
 *      its parent has gone.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS script run as a process */
const { readFileSync } = require('node:fs');

const sanitizer = process.argv[2];

if (sanitizer.endsWith('.ts')) {
  const { transformSync } = require('@swc/core');
  const options = {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  };
  // Deprecated, but the one synchronous require hook Node has.
  require.extensions['.ts'] = (module, filename) => {
    const source = readFileSync(filename, 'utf8');
    module._compile(transformSync(source, { ...options, filename }).code, filename);
  };
}

const { sanitizeSvg, SvgRejectedError } = require(sanitizer);

process.once('disconnect', () => process.exit(0));
process.once('message', (input) => {
  let reply;
  try {
    reply = { output: sanitizeSvg(Buffer.from(input.buffer, input.byteOffset, input.length)) };
  } catch (error) {
    if (error instanceof SvgRejectedError) {
      reply = { reason: error.reason, detail: error.detail };
    } else {
      reply = { error: error instanceof Error ? error.message : String(error) };
    }
  }
  process.send(reply, () => process.disconnect());
});
