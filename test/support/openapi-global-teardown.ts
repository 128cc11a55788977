import { readResults, summarise } from './openapi-recorder';

/** globalTeardown: which documented operations the e2e tests called, and what broke the document. */
export default function openApiGlobalTeardown(): void {
  const results = readResults();
  if (results.length > 0) process.stdout.write(`\n${summarise(results)}\n`);
}
