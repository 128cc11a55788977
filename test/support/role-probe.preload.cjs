// Loaded into the built service by test/e2e/service-roles.e2e-spec.ts, with
// NODE_OPTIONS=--require <this file>: the service as it ships (dist/src/main.js), plus one queue
// of its own, `role-probe`, whose jobs answer which process ran them. With ROLE_PROBE_JOBS=<n>,
// the process also queues n of them once it has started (as an `api` process queues work); with
// ROLE_PROBE_HOLD_MS=<ms>, each job runs that long before it answers (a job still running when
// the process is told to stop).
// Any other Node.js process that inherits NODE_OPTIONS (npm, the build check) is left alone.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS file loaded by --require */
const { join, resolve } = require('node:path');

const ROOT = join(__dirname, '..', '..');
const MAIN = join(ROOT, 'dist', 'src', 'main.js');

if (process.argv[1] && resolve(process.argv[1]) === MAIN) {
  require(require.resolve('reflect-metadata', { paths: [ROOT] }));
  const { JobQueue } = require(join(ROOT, 'dist', 'src', 'jobs', 'job-queue.service.js'));
  const bootstrap = JobQueue.prototype.onApplicationBootstrap;
  JobQueue.prototype.onApplicationBootstrap = async function onApplicationBootstrap() {
    this.define({
      name: 'role-probe',
      handler: async () => {
        const hold = Number(process.env.ROLE_PROBE_HOLD_MS ?? 0);
        if (hold > 0) await new Promise((done) => setTimeout(done, hold).unref());
        return { role: process.env.SERVICE_ROLE ?? 'all', pid: process.pid };
      },
    });
    await bootstrap.call(this);
    const count = Number(process.env.ROLE_PROBE_JOBS ?? 0);
    if (count > 0) {
      await this.sendMany(
        'role-probe',
        Array.from({ length: count }, (_, n) => ({ n })),
      );
    }
  };
}
