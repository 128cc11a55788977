import { AppError } from '../common/errors/app.error';
import { PROBLEM_CONTENT_TYPE, toProblem } from '../common/errors/problem-details';
import type { RecordedResponse } from '../idempotency/idempotency-keys.repository';

/** 409 api_key_already_created for the key `id`, with the `Location` the first answer had. */
function alreadyCreated(id: string, location: string | undefined): AppError {
  return new AppError(
    'api_key_already_created',
    'The API key of this Idempotency-Key was created by its first request, whose answer alone ' +
      'held its secret: it is not shown again. Use that key, or revoke it and create another.',
    [],
    location === undefined ? {} : { Location: location },
    { api_key_id: id },
  );
}

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
  const location = answer.headers.location;
  const { body } = toProblem(alreadyCreated(id, location));
  return {
    status: body.status,
    headers: {
      'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8`,
      ...(location !== undefined && { location }),
    },
    body: JSON.stringify(body),
  };
}

/**
 * The 409 api_key_already_created recorded for a retry (recordCreatedApiKey), thrown again for
 * the exception filter to answer, as every refusal of this request: with this retry's own
 * `request_id`, which the recorded body (made before any retry) cannot hold. Any other recorded
 * answer (a refusal of the first request) is replayed as it was.
 */
export function replayCreatedApiKey(recorded: RecordedResponse): AppError | undefined {
  if (recorded.status !== 409) return undefined;
  let problem: { code?: unknown; api_key_id?: unknown };
  try {
    problem = JSON.parse(recorded.body) as typeof problem;
  } catch {
    return undefined;
  }
  if (problem.code !== 'api_key_already_created' || typeof problem.api_key_id !== 'string') {
    return undefined;
  }
  return alreadyCreated(problem.api_key_id, recorded.headers.location);
}

export const CREATED_API_KEY_REPLAY =
  'For an API key, whose secret is shown once and kept nowhere, a retry of a creation that ' +
  'succeeded gets `409 api_key_already_created` instead of the first answer: `api_key_id` and ' +
  '`Location` name the key made, without its secret; no second key is made.';
