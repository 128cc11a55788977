import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** Where tests that measure something (memory, bytes read) leave their figures; ignored by git. */
export const MEASUREMENTS_FILE = join(__dirname, '..', '..', 'test-output', 'measurements.txt');

/**
 * Records a test's measured figures in test-output/measurements.txt, with the time and the test's
 * name, instead of printing them into the test report (which stays quiet).
 */
export function recordMeasurement(line: string): void {
  mkdirSync(join(MEASUREMENTS_FILE, '..'), { recursive: true });
  const test = expect.getState().currentTestName ?? 'unknown test';
  appendFileSync(MEASUREMENTS_FILE, `${new Date().toISOString()} ${test}: ${line}\n`);
}
