/**
 * The problem a response answered with, recorded by the exception filter for the request log
 * line: its `code`, and whether the service foresaw it (4xx, 503 back-pressure, a dependency
 * reported down) or it is a fault of the service itself (logged with its stack by the filter).
 *
 * Keyed by the raw response object, which the filter (`reply.raw`) and the request logger
 * (pino-http) share; a WeakMap, so nothing outlives the response.
 */
export interface RequestOutcome {
  code: string;
  expected: boolean;
}

const outcomes = new WeakMap<object, RequestOutcome>();

export function recordOutcome(res: object, outcome: RequestOutcome): void {
  outcomes.set(res, outcome);
}

export function outcomeOf(res: object): RequestOutcome | undefined {
  return outcomes.get(res);
}
