import { readResults, summarise } from './openapi-recorder';
import { failOnLeftovers, finishRun } from './run-setup';

/**
 * globalTeardown of the e2e project: which documented operations the tests called and what broke
 * the document; then what the run left behind. Anything left (a process, a database, a file) fails
 * the run, after being removed, so the next run starts clean either way.
 */
export default async function globalTeardown(): Promise<void> {
  const results = readResults();
  if (results.length > 0) process.stdout.write(`\n${summarise(results)}\n`);
  failOnLeftovers(await finishRun());
}
