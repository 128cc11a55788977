import { clearResults } from './openapi-recorder';
import { ensureBuiltAsync, precompileTransforms } from './process';
import { prepareRun } from './run-setup';
import { generateSdkAsync } from './sdk';

/**
 * globalSetup of the e2e project: starts the run (test/support/run-setup.ts: its id and folder, the
 * migrated database templates), forgets the last run's response records, generates the SDK and
 * builds dist/ if stale, and compiles the DTOs and controllers for the workers (test/support/
 * process.ts). These are child processes, run while the templates are migrated.
 */
export default async function globalSetup(
  _: unknown,
  project: { cacheDirectory: string },
): Promise<void> {
  await prepareRun(() => [
    precompileTransforms(project.cacheDirectory),
    Promise.resolve().then(clearResults),
    // Once, before the workers: tests that start the compiled service would otherwise race to
    // rebuild dist/ (nest build empties it first) under each other's running services. The SDK
    // first: the build's console is bundled from it.
    generateSdkAsync().then(ensureBuiltAsync),
  ]);
}
