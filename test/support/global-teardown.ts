import { cleanUpRun, describeLeftovers, findLeftovers } from './leftovers';
import { readResults, summarise } from './openapi-recorder';
import { currentRun } from './test-run';

/**
 * globalTeardown of the e2e project: which documented operations the tests called and what broke
 * the document; then what the run left behind. Anything left (a process, a database, a file) fails
 * the run, after being removed, so the next run starts clean either way.
 */
export default async function globalTeardown(): Promise<void> {
  const results = readResults();
  if (results.length > 0) process.stdout.write(`\n${summarise(results)}\n`);
  const run = currentRun();
  if (!run) return;
  const serverUrl = process.env.TEST_DATABASE_URL;
  const problems = describeLeftovers(await findLeftovers(run, serverUrl));
  await cleanUpRun(run, serverUrl);
  if (problems.length > 0) {
    throw new Error(
      `The tests left ${problems.length} thing(s) behind (now removed):\n  ${problems.join('\n  ')}`,
    );
  }
}
