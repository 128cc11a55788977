import { AppError } from '../common/errors/app.error';
import { toProblem } from '../common/errors/problem-details';
import { recordCreatedApiKey, replayCreatedApiKey } from './created-api-key-replay';

const ID = '0190c0de-0000-7000-8000-000000000001';
const LOCATION = `/api/v1/api-keys/${ID}`;

describe('created API key replay', () => {
  it('records a creation as 409 api_key_already_created, and replays it as that refusal thrown', () => {
    const recorded = recordCreatedApiKey({
      status: 201,
      headers: { 'content-type': 'application/json', location: LOCATION },
      body: JSON.stringify({ id: ID, key: 'pk_secret' }),
    });
    expect(recorded.body).not.toContain('pk_secret');
    const error = replayCreatedApiKey(recorded);
    expect(error).toBeInstanceOf(AppError);
    const problem = toProblem(error);
    // The same problem as recorded: the filter adds only this retry's request_id.
    expect(problem.body).toEqual(JSON.parse(recorded.body));
    expect(problem.headers).toEqual({ Location: LOCATION });
  });

  it('replays anything else as it was recorded', () => {
    const refusal = {
      status: 400,
      headers: { 'content-type': 'application/problem+json; charset=utf-8' },
      body: JSON.stringify({ code: 'scope_not_allowed', request_id: 'first' }),
    };
    expect(replayCreatedApiKey(refusal)).toBeUndefined();
    const conflict = { ...refusal, status: 409, body: '{"code":"idempotency_key_in_use"}' };
    expect(replayCreatedApiKey(conflict)).toBeUndefined();
    expect(replayCreatedApiKey({ ...refusal, status: 409, body: 'not json' })).toBeUndefined();
  });
});
