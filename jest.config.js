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

const common = {
  testEnvironment: 'node',
  transformIgnorePatterns: [],
  transform: { '^.+\\.(t|j|cj|mj)s$': swc },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  setupFiles: ['<rootDir>/test/support/jest.setup.ts'],
};

/**
 * At least two workers, even on two cores (Jest's default there is one): the end-to-end files
 * mostly wait on PostgreSQL, storage, child processes and sockets, and two at once take about two
 * thirds of the time one does (measured: 262 s against 385 s on 2 cores).
 */
const { availableParallelism } = require('node:os'); // eslint-disable-line @typescript-eslint/no-require-imports
const maxWorkers = Math.max(2, availableParallelism() - 1);

/** @type {import('jest').Config} */
module.exports = {
  maxWorkers,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts'] },
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
