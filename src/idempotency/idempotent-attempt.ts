import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';
import type { IdempotencyKeyRef, RecordedResponse } from './idempotency-keys.repository';
import type { BodyTap, PayloadDigest } from './payload-digest';

/**
 * What a route's answer is recorded as, for retries to get: for a route whose answer holds what
 * must not be kept (an API key's secret), an answer that says what was made without it. Given
 * the answer as it would be recorded; what it returns is recorded instead.
 */
export type RecordAs = (answer: RecordedResponse) => RecordedResponse;

/** The metadata under which @Idempotent() keeps a route's RecordAs, for the interceptor. */
export const RECORD_AS = 'idempotency:record-as';

/**
 * How a route answers a retry whose recorded answer it does not send as it is: the error to throw
 * instead, answered by the exception filter as a refusal of this retry (with its own
 * `request_id`), or undefined to replay the recorded answer as it was.
 */
export type ReplayAs = (recorded: RecordedResponse) => Error | undefined;

/** The metadata under which @Idempotent() keeps a route's ReplayAs, for the interceptor. */
export const REPLAY_AS = 'idempotency:replay-as';
/** The metadata of a route whose malformed Idempotency-Key is ignored (see @Idempotent()). */
export const IGNORE_MALFORMED_KEY = 'idempotency:ignore-malformed-key';
/** The metadata of a route served at several paths, one operation (see @Idempotent()). */
export const ALIASES = 'idempotency:aliases';

/**
 * Where one request with an Idempotency-Key stands:
 * - `open`: not yet admitted (its payload is being read);
 * - `claimed`: it holds the key and does the work; its answer is recorded or the key released;
 * - `replaying`: it repeats a request already answered, whose answer it gets;
 * - `settled`: its answer was recorded, or the key released;
 * - `lost`: a retry took its key over (it was that late); its work was rolled back, and neither
 *   its answer nor its clean-up touches the key.
 */
export type AttemptState = 'open' | 'claimed' | 'replaying' | 'settled' | 'lost';

/** One request with an Idempotency-Key, from its route's interceptor to its answer. */
export class IdempotentAttempt {
  state: AttemptState = 'open';
  /** Names this request's claim on the key's row (see IdempotencyKeysRepository). */
  claimId?: string;
  /** Its payload's digest, once admitted. */
  digest?: PayloadDigest;
  /** Set when its answer goes out: a claim made after that is released at once. */
  answered = false;
  /** The route's rewrite of its answer before it is recorded (see RecordAs), if it has one. */
  recordAs?: RecordAs;
  /** The route's answer to a retry instead of the recorded one (see ReplayAs), if it has one. */
  replayAs?: ReplayAs;

  /**
   * @param path as the fingerprint records it (operationPath)
   * @param aliases the paths of the route's operation, if it is served at several: a key recorded
   * with any of them is for this path
   */
  constructor(
    readonly ref: IdempotencyKeyRef,
    readonly method: string,
    readonly path: string,
    readonly aliases: readonly string[] = [],
  ) {}
}

/**
 * The attempt of the request being handled: the interceptor runs the route (its pipes included)
 * within it, so that the pipe that reads a multipart or CSV body can admit the key once it knows
 * the payload, before the work starts. Pipes see their value only, not the request.
 */
const current = new AsyncLocalStorage<IdempotentAttempt>();

export function currentAttempt(): IdempotentAttempt | undefined {
  return current.getStore();
}

export function runInAttempt<T>(attempt: IdempotentAttempt, work: () => Promise<T>): Promise<T> {
  return current.run(attempt, work);
}

/**
 * Runs `step`, a step of the request that commits but is not its work, outside its attempt: its
 * transactions do not mark the key's work committed (IdempotentWorkSubscriber). For a placeholder
 * that the work's own last transaction completes (a bulk import's, created before its rows
 * arrive), and for the clean-up after a failure: marked, either would keep the key of a request
 * that did nothing from being taken over after a crash, or released after a failure.
 */
export function apartFromTheWork<T>(step: () => Promise<T>): Promise<T> {
  return current.exit(step);
}

/** Each request's attempt by its raw request, for the hook that records its answer. */
const byRequest = new WeakMap<IncomingMessage, IdempotentAttempt>();

export function attachAttempt(raw: IncomingMessage, attempt: IdempotentAttempt): void {
  byRequest.set(raw, attempt);
}

export function attemptOf(raw: IncomingMessage): IdempotentAttempt | undefined {
  return byRequest.get(raw);
}

const taps = new WeakMap<IncomingMessage, BodyTap>();

/** The digest of a request's JSON body, taken as it was parsed (IdempotencyHooks). */
export function attachBodyTap(raw: IncomingMessage, tap: BodyTap): void {
  taps.set(raw, tap);
}

export function bodyTapOf(raw: IncomingMessage): BodyTap | undefined {
  return taps.get(raw);
}

/** Thrown to answer a retry with the answer recorded for its key (IdempotentReplayFilter). */
export class IdempotentReplay extends Error {
  constructor(readonly response: RecordedResponse) {
    super('The answer recorded for this Idempotency-Key');
    this.name = 'IdempotentReplay';
  }
}
