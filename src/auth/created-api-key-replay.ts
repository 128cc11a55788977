import { AppError } from '../common/errors/app.error';
import { PROBLEM_CONTENT_TYPE, toProblem } from '../common/errors/problem-details';
import type { RecordedResponse } from '../idempotency/idempotency-keys.repository';

/**
 * What a retry of an API key's creation with the same Idempotency-Key gets: not the first answer,
 * which holds the key's secret (kept nowhere but in that answer: only its hash is stored), but
 * 409 api_key_already_created naming the key (`api_key_id`, and `Location` as the first answer
 * had it). The secret is never written to the idempotency store, and no second key is made.
 * Refusals hold no secret and are recorded as they are.
 */
export function recordCreatedApiKey(answer: RecordedResponse): RecordedResponse {
  if (answer.status !== 201) return answer;
  const { id } = JSON.parse(answer.body) as { id: unknown };
  if (typeof id !== 'string') throw new Error('A created API key without its id');
  const { body } = toProblem(
    new AppError(
      'api_key_already_created',
      'The API key of this Idempotency-Key was created by its first request, whose answer alone ' +
        'held its secret: it is not shown again. Use that key, or revoke it and create another.',
      [],
      {},
      { api_key_id: id },
    ),
  );
  const location = answer.headers.location;
  return {
    status: body.status,
    headers: {
      'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8`,
      ...(location !== undefined && { location }),
    },
    body: JSON.stringify(body),
  };
}

export const CREATED_API_KEY_REPLAY =
  'For an API key, whose secret is shown once and kept nowhere, a retry of a creation that ' +
  'succeeded gets `409 api_key_already_created` instead of the first answer: `api_key_id` and ' +
  '`Location` name the key made, without its secret; no second key is made.';
