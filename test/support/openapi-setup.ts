import { formatViolations } from './openapi-validator';
import { saveResults, takeViolations } from './openapi-recorder';

/**
 * setupFilesAfterEnv of the e2e project: after each test file, its responses that do not match
 * openapi.json fail it (one failure listing them by operation), and what it called is saved for
 * the run's summary.
 */
afterAll(() => {
  const violations = takeViolations();
  saveResults(expect.getState().testPath ?? 'unknown', violations);
  if (violations.length > 0) {
    throw new Error(
      `${violations.length} response(s) do not match openapi.json:\n${formatViolations(violations)}`,
    );
  }
});
