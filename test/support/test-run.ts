import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One `npm test` run: the global set-up (test/support/global-setup.ts) gives it an id and a root
 * folder, and hands both to the test workers through the environment. Everything a test makes
 * lives under that root (the run's TMPDIR), and every database it makes on the server is named
 * after the id, so that the global teardown can tell what this run left behind, even while another
 * run is going on beside it.
 */
export const RUN_ID_VARIABLE = 'PIS_TEST_RUN';
export const RUN_ROOT_VARIABLE = 'PIS_TEST_ROOT';

export interface TestRun {
  id: string;
  root: string;
  /** The run's TMPDIR: empty at the end of a run that cleaned up after itself. */
  tmp: string;
  /** A migrated embedded database to copy (its `pglite` folder), made once per run. */
  pgliteTemplate: string;
}

export function runPaths(id: string, root: string): TestRun {
  return {
    id,
    root,
    tmp: join(root, 'tmp'),
    pgliteTemplate: join(root, 'template', 'pglite'),
  };
}

/** The current run, or undefined when Jest was started without the e2e global set-up. */
export function currentRun(): TestRun | undefined {
  const id = process.env[RUN_ID_VARIABLE];
  const root = process.env[RUN_ROOT_VARIABLE];
  if (!id || !root || !existsSync(root)) return undefined;
  return runPaths(id, root);
}

/** Server-side database names of a run: `pis_test_<run id>_<suffix>`. */
export function databasePrefix(runId: string | undefined): string {
  return runId ? `pis_test_${runId}_` : 'pis_test_';
}

export function templateDatabaseName(runId: string): string {
  return `${databasePrefix(runId)}template`;
}
