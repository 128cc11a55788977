/**
 * Jest with the swc transform for everything (Nest 12 and several dependencies ship only ESM),
 * except DTOs and controllers, which scripts/jest-transform.cjs compiles with TypeScript and the
 * @nestjs/swagger plugin, as `nest build` does, so that tests see the served OpenAPI document.
 */
const swc = [
  '<rootDir>/scripts/jest-transform.cjs',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
  },
];

/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS file loaded by Jest */
const { existsSync, readdirSync, readFileSync } = require('node:fs');
const { availableParallelism } = require('node:os');
const { join } = require('node:path');

/**
 * The installed packages that ship ES modules (`"type": "module"`), which Jest, running CommonJS,
 * must compile (Nest 12's packages, file-type, …). Every other package is CommonJS already and is
 * loaded as it is: compiling all of node_modules (2,400 files for one app) cost each worker of a
 * fresh clone about 10 s, and every later run a cache look-up per file.
 */
function esmPackages(dir = join(__dirname, 'node_modules')) {
  const names = (folder) =>
    existsSync(folder) ? readdirSync(folder).filter((name) => !name.startsWith('.')) : [];
  return names(dir).flatMap((name) =>
    name.startsWith('@')
      ? names(join(dir, name)).flatMap((inner) => esmPackage(dir, `${name}/${inner}`))
      : esmPackage(dir, name),
  );
}

/** `name` if that package is an ES module one, and the ES module packages nested in it. */
function esmPackage(dir, name) {
  let type;
  try {
    type = JSON.parse(readFileSync(join(dir, name, 'package.json'), 'utf8')).type;
  } catch {
    return [];
  }
  const nested = esmPackages(join(dir, name, 'node_modules'));
  return type === 'module' ? [name, ...nested] : nested;
}

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Not compiled: a file of a CommonJS package (judged by its innermost node_modules), not .mjs. */
const commonJsPackage = `^(?!.*\\.mjs$).*/node_modules/(?!(?:${[...new Set(esmPackages())]
  .map(escape)
  .join('|')})/)(?!.*/node_modules/)`;

const common = {
  // Jest's node environment in a vanilla V8 context, with a code cache (see the file).
  testEnvironment: '<rootDir>/test/support/jest-environment.cjs',
  transformIgnorePatterns: [commonJsPackage],
  transform: { '^.+\\.(t|j|cj|mj)s$': swc },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  setupFiles: ['<rootDir>/test/support/jest.setup.ts'],
};

/**
 * At least three workers, even on two cores (Jest's default there is one): the end-to-end files
 * mostly wait on PostgreSQL, storage, child processes, sockets and timers, so the suite's CPU time
 * (about 300 s) is well below two cores' worth of its wall time. Measured on 2 cores: one worker
 * 385 s, two 262 s. With three, and the set-up and transforms made cheaper (issue 16), a fresh
 * clone's run took 514 s against 712 s for two workers before, on a machine busy with other work
 * (load average 8-15 throughout both).
 */
const maxWorkers = Math.max(3, availableParallelism() - 1);

/** @type {import('jest').Config} */
module.exports = {
  maxWorkers,
  reporters: ['default', '<rootDir>/test/support/slowest-files.reporter.cjs'],
  // How long a worker may take to exit once told to stop before Jest kills it and prints "A worker
  // process has failed to exit gracefully" (default 500 ms). With its event loop already empty (no
  // socket, timer or child open: measured), a worker that has run several files (PGlite's
  // WebAssembly, Nest, TypeORM; 750-900 MB resident) took 0.75-0.85 s to finish exiting on this
  // busy two-core machine. A handle that does keep a worker alive is still reported, 5 s later.
  workerGracefulExitTimeout: 5_000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    {
      // A module's services against a real database, without HTTP (test/support/integration.ts).
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.int-spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/hook-timeouts.ts'],
      globalSetup: '<rootDir>/test/support/integration-setup.ts',
      globalTeardown: '<rootDir>/test/support/integration-teardown.ts',
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      slowTestThreshold: 30,
      // Responses of apps started by startTestApp() are checked against openapi.json.
      setupFilesAfterEnv: [
        '<rootDir>/test/support/hook-timeouts.ts',
        '<rootDir>/test/support/openapi-setup.ts',
      ],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
  testTimeout: 60_000,
};
