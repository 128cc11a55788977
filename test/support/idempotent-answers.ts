import type { Response } from 'light-my-request';

/**
 * The answers to requests sent at once with one Idempotency-Key: the work done once (`status`,
 * one body), each other request refused while that work was in flight (409
 * idempotency_key_in_use, `Retry-After: 1`) or, had the work already finished when it came, given
 * the same answer replayed. Which of the two a request gets depends on timing alone, so either is
 * right. Returns the answer of the work.
 */
export function theWorkOnce(answers: Response[], status: number): Response {
  const done = answers.filter((answer) => answer.statusCode === status);
  const busy = answers.filter((answer) => answer.statusCode === 409);
  const others = answers
    .map((answer) => answer.statusCode)
    .filter((s) => s !== status && s !== 409);
  expect(others).toEqual([]);
  expect(done.length).toBeGreaterThanOrEqual(1);
  expect(new Set(done.map((answer) => answer.body)).size).toBe(1);
  for (const answer of busy) {
    expect(answer.json()).toMatchObject({ status: 409, code: 'idempotency_key_in_use' });
    expect(answer.headers['retry-after']).toBe('1');
  }
  return done[0];
}
