import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal';
import { AppError } from '../common/errors/app.error';
import { PROBLEM_CONTENT_TYPE, toProblem } from '../common/errors/problem-details';
import { REQUEST_ID_HEADER } from '../common/logging/request-id';
import { safeError } from '../common/logging/safe-error';
import { retryOnLostConnection } from '../database/lost-connection-retry';
import { CONSOLE_UPLOADS_KEPT_HOURS } from './console-uploads';
import { IDEMPOTENCY_CONFIG, type IdempotencyConfig } from './idempotency.config';
import {
  IdempotencyKeysRepository,
  type RecordedResponse,
  type StoredKey,
} from './idempotency-keys.repository';
import { attachAttempt, IdempotentAttempt, IdempotentReplay } from './idempotent-attempt';
import { operationPath, targetPath } from './fingerprint-path';
import type { PayloadDigest } from './payload-digest';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
/** Seconds a client is asked to wait before retrying a request whose key is still in flight. */
const IN_USE_RETRY_AFTER_SECONDS = 1;
/** The headers of an answer that are recorded and replayed with its status and body. */
const RECORDED_HEADERS = ['content-type', 'location', 'etag'];
/**
 * Claims tried before answering 409: a claim is lost, and the key then not found, only when its
 * holder released it (or it expired) between the two statements.
 */
const CLAIM_ROUNDS = 3;
/**
 * Refusals below 500 that are not recorded either, the key let go: a failed precondition (412:
 * it depends on the resource's state, not on the request, and a retry with the new ETag should
 * do the work), and a body of a type the route does not take (415), which did nothing.
 */
const UNRECORDED_STATUSES = new Set([412, 415]);

/**
 * Rewrites an answer recorded for a key before it is replayed: a module whose answers name things
 * that expire makes them anew (ReplayedUrlsService: presigned storage URLs).
 */
export type ReplayRefresher = (response: RecordedResponse) => Promise<RecordedResponse>;

/** The answer a request is about to send, as the onSend hook sees it. */
export interface Answer {
  status: number;
  header(name: string): string | undefined;
  /** The serialised body (a string or a Buffer), or a stream, which is not recorded. */
  body: unknown;
}

/**
 * Idempotent retries (the IETF Idempotency-Key draft), for the routes marked @Idempotent(): a
 * request with a key is admitted once its payload is known (see PayloadDigest) — it claims the
 * key and does the work, or it repeats a request already answered and gets that answer again
 * (IdempotentReplay), or it is refused: 409 while the first request is still in flight, 422 when
 * the key was used for another request. Keys belong to their caller (a user or an API key) and
 * live IDEMPOTENCY_KEY_TTL_HOURS in PostgreSQL, shared by every instance.
 *
 * The answer is recorded when it is sent (IdempotencyHooks), after the work's own transactions
 * have committed, not in them: the services keep their transactions to themselves. Their commit
 * marks the key's work committed (IdempotentWorkSubscriber): a crash before it lets a retry take
 * the key over after IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS; a crash between the work's commit and the
 * record leaves the key claimed until it expires: retries with it are answered 409 meanwhile, and
 * the work is never done twice.
 *
 * Recorded and replayed: answers below 500 given once the key was admitted (a 2xx, or a refusal
 * of the request as it was, say 404 product_not_found), provided the payload was read whole. Not
 * recorded, the key released so that a retry with it does the work: 5xx (a failure of the
 * service, worth retrying), 412 and 415 (UNRECORDED_STATUSES), and a CSV refused halfway, whose
 * digest is not known. A refusal before the key was admitted (malformed JSON, a multipart form
 * the upload pipe refused) claims nothing at all. A key whose work committed is never released,
 * whatever the answer (a 5xx when the read that builds the answer failed): a retry would do the
 * work twice. It gets 409 idempotent_answer_lost recorded instead (see letGo).
 */
@Injectable()
export class IdempotencyService {
  private readonly logger = new Logger('Idempotency');
  private readonly lifetimes: { ttlSeconds: number; inFlightSeconds: number };
  /** The attempts of this process that hold their key and have not been answered yet. */
  private readonly inFlight = new Set<IdempotentAttempt>();
  private readonly refreshers: ReplayRefresher[] = [];

  constructor(
    @Inject(IDEMPOTENCY_CONFIG) config: IdempotencyConfig,
    private readonly keys: IdempotencyKeysRepository,
  ) {
    this.lifetimes = {
      ttlSeconds: config.IDEMPOTENCY_KEY_TTL_HOURS * 3600,
      inFlightSeconds: config.IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS,
    };
    const hours = config.IDEMPOTENCY_KEY_TTL_HOURS;
    // Allowed (1-8760), but the console's retries would outlive their keys.
    if (hours <= CONSOLE_UPLOADS_KEPT_HOURS) {
      this.logger.warn(
        `IDEMPOTENCY_KEY_TTL_HOURS is ${hours}, not above the ${CONSOLE_UPLOADS_KEPT_HOURS} hours ` +
          'the web console keeps an unanswered upload to retry it with its Idempotency-Key: a ' +
          'retry after the key expired can store the image a second time. Set it above ' +
          `${CONSOLE_UPLOADS_KEPT_HOURS} (the default is 24).`,
      );
    }
  }

  /**
   * Has every answer replayed go through `refresh` first, so that a retry hours later is not
   * handed what has expired since (a presigned URL). The answer is replayed as recorded should
   * `refresh` fail.
   */
  refreshReplaysWith(refresh: ReplayRefresher): void {
    this.refreshers.push(refresh);
  }

  /**
   * The attempt of an authenticated request to an idempotent route, or undefined when it sent no
   * key. A malformed key is 400 invalid_idempotency_key. `aliases`: the paths of the route's
   * operation, when it is served at several (see IdempotentOptions.aliases).
   */
  begin(
    request: FastifyRequest,
    principal: Principal,
    aliases: readonly string[] = [],
  ): IdempotentAttempt | undefined {
    const key = parseIdempotencyKey(headerValues(request.raw.rawHeaders, IDEMPOTENCY_KEY_HEADER));
    if (key === undefined) return undefined;
    const attempt = new IdempotentAttempt(
      {
        organizationId: principal.organizationId,
        principalType: principal.type,
        principalId: principal.id,
        key,
      },
      request.method,
      operationPath(targetPath(request.url), aliases),
      aliases,
    );
    attachAttempt(request.raw, attempt);
    return attempt;
  }

  /**
   * Claims the key for this request, which then does the work; or throws: IdempotentReplay with
   * the answer to repeat, 409 idempotency_key_in_use, or 422 idempotency_key_reused.
   */
  async admit(attempt: IdempotentAttempt, digest: PayloadDigest): Promise<void> {
    const fingerprint = {
      method: attempt.method,
      path: attempt.path,
      payloadSha256: digest.value ?? null,
    };
    for (let round = 0; round < CLAIM_ROUNDS; round++) {
      const claimId = randomUUID();
      if (await this.keys.claim(attempt.ref, claimId, fingerprint, this.lifetimes)) {
        return this.claimed(attempt, claimId, digest);
      }
      const stored = await this.keys.find(attempt.ref);
      if (stored) return this.refuse(attempt, stored, digest);
    }
    throw keyInUse();
  }

  /**
   * Records the answer of a request that holds its key, or releases the key (see the class).
   * Never throws: if the database fails here (after retries of a lost connection, see persist),
   * the key stays claimed until it expires.
   */
  async settle(attempt: IdempotentAttempt, answer: Answer): Promise<void> {
    attempt.answered = true;
    this.inFlight.delete(attempt);
    const { ref, claimId } = attempt;
    if (attempt.state !== 'claimed' || !claimId) return;
    attempt.state = 'settled';
    const digest = attempt.digest?.value;
    const body = recordableBody(answer.body);
    const recorded = answer.status < 500 && !UNRECORDED_STATUSES.has(answer.status);
    if (!recorded || digest === undefined || body === undefined) {
      const requestId = answer.header(REQUEST_ID_HEADER);
      return this.persist(() => this.letGo(attempt, claimId, requestId), answer.status);
    }
    const headers: Record<string, string> = {};
    for (const name of RECORDED_HEADERS) {
      const value = answer.header(name);
      if (value !== undefined) headers[name] = String(value);
    }
    const response = this.recordable(attempt, { status: answer.status, headers, body });
    if (!response) {
      const requestId = answer.header(REQUEST_ID_HEADER);
      return this.persist(() => this.letGo(attempt, claimId, requestId), answer.status);
    }
    return this.persist(() => this.keys.complete(ref, claimId, digest, response), answer.status);
  }

  /**
   * The answer as its route has it recorded (IdempotentAttempt.recordAs), or undefined should
   * that fail: the answer is then let go as one that cannot be recorded, never kept as it was.
   */
  private recordable(
    attempt: IdempotentAttempt,
    response: RecordedResponse,
  ): RecordedResponse | undefined {
    if (!attempt.recordAs) return response;
    try {
      return attempt.recordAs(response);
    } catch (error) {
      this.logger.warn({ err: safeError(error) }, 'An answer could not be made fit to record');
      return undefined;
    }
  }

  /**
   * Lets go of the keys this process's requests still hold, before it exits without answering
   * them (a graceful shutdown out of time, a second signal, an uncaught exception): their work
   * never committed, so a retry after the restart may do it at once rather than after
   * IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS. Best effort, for at most `withinMs` (the database may be
   * what failed); how many keys it released. A request whose work committed meanwhile gets
   * 409 idempotent_answer_lost recorded; one that would commit after the release is rolled back
   * (IdempotentWorkSubscriber finds its claim gone), as after a takeover.
   */
  async releaseCut(withinMs: number): Promise<number> {
    const cut = [...this.inFlight].filter((attempt) => attempt.state === 'claimed');
    this.inFlight.clear();
    let released = 0;
    const all = Promise.allSettled(
      cut.map(async (attempt) => {
        if (!attempt.claimId) return;
        if ((await this.letGo(attempt, attempt.claimId, undefined)) === 'released') released++;
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise((resolve) => (timer = setTimeout(resolve, withinMs)));
    await Promise.race([all, timeout]).finally(() => clearTimeout(timer));
    return released;
  }

  /**
   * Lets go of the attempt's key: released if its work never committed; otherwise (the answer
   * failed after the commit, or was none that can be recorded) 409 idempotent_answer_lost is
   * recorded, so that retries stop and are told to read what was made.
   */
  private letGo(
    attempt: IdempotentAttempt,
    claimId: string,
    requestId: string | undefined,
  ): Promise<'released' | 'answered' | 'none'> {
    const { body } = toProblem(answerLost());
    const problem = requestId === undefined ? body : { ...body, request_id: requestId };
    const response = {
      status: body.status,
      headers: { 'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8` },
      body: JSON.stringify(problem),
    };
    const payloadSha256 = attempt.digest?.value ?? null;
    return this.keys.letGo(attempt.ref, claimId, { payloadSha256, response });
  }

  /**
   * Runs `write` (an answer recorded, a key released), tried again on a new connection after a
   * lost one (giving up leaves the key in use until it expires: a day, if the work committed).
   * Never throws.
   */
  private async persist(write: () => Promise<unknown>, status: number): Promise<void> {
    try {
      await retryOnLostConnection(write);
    } catch (error) {
      this.logger.warn(
        { err: safeError(error), status },
        'The answer of an Idempotency-Key could not be recorded: the key stays in use until it expires',
      );
    }
  }

  private async claimed(
    attempt: IdempotentAttempt,
    claimId: string,
    digest: PayloadDigest,
  ): Promise<void> {
    attempt.claimId = claimId;
    attempt.digest = digest;
    if (!attempt.answered) {
      attempt.state = 'claimed';
      this.inFlight.add(attempt);
      return;
    }
    // Answered already (another parameter of the route was refused meanwhile): nothing will
    // record an answer, so the key is let go at once, and the work not started.
    attempt.state = 'settled';
    await this.keys.release(attempt.ref, claimId);
    throw new Error('The request was answered before its Idempotency-Key was claimed');
  }

  private async refuse(
    attempt: IdempotentAttempt,
    { fingerprint, response }: StoredKey,
    digest: PayloadDigest,
  ): Promise<never> {
    // A key stored before paths were compared so holds its path as it was sent: a route's alias
    // (a retry through the one it was sent to is the same request still), or another spelling.
    const path = operationPath(fingerprint.path, attempt.aliases);
    if (fingerprint.method !== attempt.method || path !== attempt.path) {
      throw keyReused();
    }
    if (!response) {
      const known = fingerprint.payloadSha256 !== null && digest.value !== undefined;
      throw known && fingerprint.payloadSha256 !== digest.value ? keyReused() : keyInUse();
    }
    if ((await digest.settle()) !== fingerprint.payloadSha256) throw keyReused();
    attempt.state = 'replaying';
    const replayed = await this.refreshed(response);
    throw attempt.replayAs?.(replayed) ?? new IdempotentReplay(replayed);
  }

  private async refreshed(recorded: RecordedResponse): Promise<RecordedResponse> {
    let response = recorded;
    try {
      for (const refresh of this.refreshers) response = await refresh(response);
      return response;
    } catch (error) {
      this.logger.warn(
        { err: safeError(error) },
        'A replayed answer could not be refreshed: it is replayed as it was recorded',
      );
      return recorded;
    }
  }
}

const KEY_RULE =
  `The Idempotency-Key header must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII ` +
  'characters (a UUID, say), sent once.';
/** A Structured Field string (RFC 8941), as the draft writes the key: `"…"`, with \" and \\. */
const SF_STRING = /^"((?:[^"\\]|\\["\\])*)"$/;
const PRINTABLE_ASCII = new RegExp(`^[\\x20-\\x7e]{1,${MAX_IDEMPOTENCY_KEY_LENGTH}}$`);

/**
 * The key a request sent, or undefined when it sent none. The draft's form is a quoted string
 * (`Idempotency-Key: "8e03978e-…"`); a bare value is taken as it is, as most clients send it.
 */
export function parseIdempotencyKey(values: string[] | undefined): string | undefined {
  if (values === undefined) return undefined;
  if (values.length !== 1) throw new AppError('invalid_idempotency_key', KEY_RULE);
  const quoted = SF_STRING.exec(values[0]);
  const key = quoted ? quoted[1].replace(/\\(["\\])/g, '$1') : values[0];
  if (!PRINTABLE_ASCII.test(key)) throw new AppError('invalid_idempotency_key', KEY_RULE);
  return key;
}

/** Every value of a header as sent, one per occurrence (Node joins them in `headers`). */
function headerValues(rawHeaders: string[], name: string): string[] | undefined {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() === name) values.push(rawHeaders[i + 1]);
  }
  return values.length > 0 ? values : undefined;
}

function keyInUse(): AppError {
  return new AppError(
    'idempotency_key_in_use',
    'A request with this Idempotency-Key is still being processed: retry it after a moment to ' +
      'get its answer.',
    [],
    { 'Retry-After': String(IN_USE_RETRY_AFTER_SECONDS) },
  );
}

function answerLost(): AppError {
  return new AppError(
    'idempotent_answer_lost',
    'The request with this Idempotency-Key was done, but its answer could not be made; it is ' +
      'not done again: read the resource to see its result.',
  );
}

function keyReused(): AppError {
  return new AppError(
    'idempotency_key_reused',
    'This Idempotency-Key was used for a different request (another route or payload): use a ' +
      'new key for a new request.',
  );
}

function recordableBody(body: unknown): string | undefined {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string') return body;
  if (Buffer.isBuffer(body)) return body.toString('utf8');
  return undefined;
}
