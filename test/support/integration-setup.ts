import { precompileTransforms } from './process';
import { prepareRun } from './run-setup';

/**
 * globalSetup of the integration project: the run and its migrated database templates, shared with
 * the e2e project's set-up when both run (no SDK, no build: nothing here starts the service), and the DTOs compiled for the workers.
 */
export default async function integrationSetup(
  _: unknown,
  project: { cacheDirectory: string },
): Promise<void> {
  await prepareRun(() => [precompileTransforms(project.cacheDirectory)]);
}
