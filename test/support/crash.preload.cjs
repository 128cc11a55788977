// Loaded into the built service by test/e2e/process.e2e-spec.ts, with
// NODE_OPTIONS=--require <this file>: the service as it ships (dist/src/main.js), plus a way to
// make it meet a fault no code catches. On SIGUSR2 it throws outside any request
// (CRASH_WITH=exception) or leaves a rejected promise no one handles (CRASH_WITH=rejection).
// Any other Node.js process that inherits NODE_OPTIONS is left alone.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS file loaded by --require */
const { join, resolve } = require('node:path');

const MAIN = join(__dirname, '..', '..', 'dist', 'src', 'main.js');

if (process.argv[1] && resolve(process.argv[1]) === MAIN) {
  process.on('SIGUSR2', () => {
    // Shaped as a failed query's error: its parameters and PostgreSQL's detail (which quote the
    // values: passwords, emails) must not reach the log.
    const error = Object.assign(new Error('crash-check: a fault no code caught'), {
      parameters: ['crash-check-secret'],
      detail: 'Key (email)=(crash-check-secret) already exists.',
    });
    if (process.env.CRASH_WITH === 'rejection') void Promise.reject(error);
    else
      setImmediate(() => {
        throw error;
      });
  });
}
