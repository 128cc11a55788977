import { Injectable } from '@nestjs/common';
import { DataSource, type QueryRunner } from 'typeorm';

/** One caller's key: keys are per caller (a user or an API key), inside its organisation. */
export interface IdempotencyKeyRef {
  organizationId: string;
  principalType: 'user' | 'api_key';
  principalId: string;
  key: string;
}

/** What makes two requests with one key the same request. */
export interface RequestFingerprint {
  method: string;
  /** The path the request was sent to, without its query. */
  path: string;
  /** SHA-256 (hex) of the payload; null while a streamed body is still being read. */
  payloadSha256: string | null;
}

/** An answer kept for replay: its status, the headers that matter, and its body as sent. */
export interface RecordedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A key as stored: its request, and its answer once the request is over (none while in flight). */
export interface StoredKey {
  fingerprint: RequestFingerprint;
  response: RecordedResponse | null;
}

// Every statement ends in a SELECT, so that both drivers (pg, PGlite) answer with its rows alone.
const REF = `organization_id = $1 AND principal_type = $2 AND principal_id = $3 AND key = $4`;

/**
 * The claim: a new row, or a row taken over: past its expiry (still in flight or not: a request
 * cannot outlive its key), or in flight longer than $10 seconds without its work having committed
 * (its process died, see IdempotentWorkSubscriber), for the same request (a payload not yet known
 * on either side counts as the same). Only one of several concurrent claims of a key gets a row
 * back: the others wait for the winner's row lock and then find a live row, which the WHERE
 * refuses. A request whose work is committing holds the row's lock until its commit, so a takeover
 * waits for it and then sees the work committed.
 */
const CLAIM_SQL = `
  WITH claimed AS (
    INSERT INTO idempotency_keys AS k (organization_id, principal_type, principal_id, key,
                                       claim_id, request_method, request_path, payload_sha256,
                                       expires_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + $9::double precision * interval '1 second')
    ON CONFLICT (organization_id, principal_type, principal_id, key) DO UPDATE SET
      claim_id = excluded.claim_id, request_method = excluded.request_method,
      request_path = excluded.request_path, payload_sha256 = excluded.payload_sha256,
      response_status = NULL, response_headers = NULL, response_body = NULL,
      created_at = now(), completed_at = NULL, work_committed_at = NULL,
      expires_at = excluded.expires_at
    WHERE k.expires_at <= now()
       OR (k.completed_at IS NULL AND k.work_committed_at IS NULL
           AND k.created_at <= now() - $10::double precision * interval '1 second'
           AND k.request_method = excluded.request_method
           AND k.request_path = excluded.request_path
           AND (k.payload_sha256 IS NULL OR excluded.payload_sha256 IS NULL
                OR k.payload_sha256 = excluded.payload_sha256))
    RETURNING 1)
  SELECT 1 FROM claimed`;

/**
 * In the transaction that commits a claimed request's work: the work is done, so the key can no
 * longer be taken over. Nothing when the request no longer holds the key (it was taken over).
 */
const MARK_WORK_SQL = `
  WITH marked AS (
    UPDATE idempotency_keys SET work_committed_at = coalesce(work_committed_at, now())
     WHERE ${REF} AND claim_id = $5 AND completed_at IS NULL
    RETURNING 1)
  SELECT 1 FROM marked`;

const FIND_SQL = `
  SELECT request_method, request_path, payload_sha256, response_status, response_headers,
         response_body
    FROM idempotency_keys WHERE ${REF} AND expires_at > now()`;

/** The answer, on the row this request claimed (not on a row claimed again since it expired). */
const COMPLETE_SQL = `
  WITH completed AS (
    UPDATE idempotency_keys
       SET payload_sha256 = $6, response_status = $7, response_headers = $8,
           response_body = $9, completed_at = now()
     WHERE ${REF} AND claim_id = $5 AND completed_at IS NULL
    RETURNING 1)
  SELECT 1 FROM completed`;

/**
 * Forgets a key whose request did nothing, so that a retry with it does the work; never one whose
 * work committed (a retry would do it twice). A request whose work is committing holds the row's
 * lock (its mark), which this DELETE waits for; once that commit is in, the row no longer
 * qualifies and nothing is deleted. Letting go then records the answer that tells a retry its work
 * was done (LET_GO_ANSWER_SQL, see IdempotencyService.letGo) in a statement of its own, whose
 * snapshot sees the commit: a second part of this statement would still see the row as it was
 * when the statement began (the work not committed), and touch nothing. A SELECT over the DELETE,
 * so that TypeORM answers its rows (a bare DELETE answers `[rows, rowCount]`).
 */
const RELEASE_SQL = `
  WITH released AS (
    DELETE FROM idempotency_keys
     WHERE ${REF} AND claim_id = $5 AND completed_at IS NULL AND work_committed_at IS NULL
    RETURNING 1)
  SELECT 1 FROM released`;

/** The answer `$6…$9` of a key whose work committed (after RELEASE_SQL deleted nothing). */
const LET_GO_ANSWER_SQL = `
  WITH kept AS (
    UPDATE idempotency_keys
       SET payload_sha256 = coalesce($6, payload_sha256), response_status = $7,
           response_headers = $8, response_body = $9, completed_at = now()
     WHERE ${REF} AND claim_id = $5 AND completed_at IS NULL AND work_committed_at IS NOT NULL
    RETURNING 1)
  SELECT count(*)::int AS kept FROM kept`;

/** Rows past their expiry, a bounded batch, skipping rows a claim is taking over right now. */
const SWEEP_SQL = `
  WITH gone AS (
    DELETE FROM idempotency_keys
     WHERE (organization_id, principal_type, principal_id, key) IN (
       SELECT organization_id, principal_type, principal_id, key FROM idempotency_keys
        WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
    RETURNING 1)
  SELECT count(*)::int AS deleted FROM gone`;

interface KeyRow {
  request_method: string;
  request_path: string;
  payload_sha256: string | null;
  response_status: number | null;
  response_headers: Record<string, string> | null;
  response_body: string | null;
}

/**
 * Idempotency keys in the service's own PostgreSQL (table `idempotency_keys`), shared by every
 * instance. Times are the database's, the same for every instance.
 */
@Injectable()
export class IdempotencyKeysRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Claims the key for the request `claimId`, for `ttlSeconds`; false when it is taken. A claim
   * in flight for `inFlightSeconds` whose work never committed is taken over (see CLAIM_SQL).
   */
  async claim(
    ref: IdempotencyKeyRef,
    claimId: string,
    fingerprint: RequestFingerprint,
    { ttlSeconds, inFlightSeconds }: { ttlSeconds: number; inFlightSeconds: number },
  ): Promise<boolean> {
    const rows = await this.dataSource.query<unknown[]>(CLAIM_SQL, [
      ...refValues(ref),
      claimId,
      fingerprint.method,
      fingerprint.path,
      fingerprint.payloadSha256,
      ttlSeconds,
      inFlightSeconds,
    ]);
    return rows.length === 1;
  }

  /**
   * Marks the work of the request `claimId` committed, in the transaction of `queryRunner` that
   * commits it; false when the request no longer holds the key.
   */
  async markWorkCommitted(
    queryRunner: QueryRunner,
    ref: IdempotencyKeyRef,
    claimId: string,
  ): Promise<boolean> {
    const rows = (await queryRunner.query(MARK_WORK_SQL, [
      ...refValues(ref),
      claimId,
    ])) as unknown[];
    return rows.length === 1;
  }

  /** The key, unless unknown or expired. */
  async find(ref: IdempotencyKeyRef): Promise<StoredKey | undefined> {
    const [row] = await this.dataSource.query<KeyRow[]>(FIND_SQL, refValues(ref));
    if (!row) return undefined;
    const fingerprint = {
      method: row.request_method,
      path: row.request_path,
      payloadSha256: row.payload_sha256,
    };
    if (row.response_status === null) return { fingerprint, response: null };
    return {
      fingerprint,
      response: {
        status: row.response_status,
        headers: row.response_headers ?? {},
        body: row.response_body ?? '',
      },
    };
  }

  /** Records the answer of the request that claimed the key; false if it no longer holds it. */
  async complete(
    ref: IdempotencyKeyRef,
    claimId: string,
    payloadSha256: string,
    response: RecordedResponse,
  ): Promise<boolean> {
    const rows = await this.dataSource.query<unknown[]>(COMPLETE_SQL, [
      ...refValues(ref),
      claimId,
      ...answerValues(payloadSha256, response),
    ]);
    return rows.length === 1;
  }

  /**
   * Forgets the key the request claimed, so that a retry with it does the work; not if its work
   * committed (that key stays in flight until it expires). Whether it was forgotten.
   */
  async release(ref: IdempotencyKeyRef, claimId: string): Promise<boolean> {
    const rows = await this.dataSource.query<unknown[]>(RELEASE_SQL, [...refValues(ref), claimId]);
    return rows.length > 0;
  }

  /**
   * Forgets the key the request claimed, so that a retry with it does the work, unless its work
   * committed: then records `answer` (see RELEASE_SQL). Which of the two it did; 'none' when the
   * request no longer holds the key (answered, taken over, expired).
   */
  async letGo(
    ref: IdempotencyKeyRef,
    claimId: string,
    answer: { payloadSha256: string | null; response: RecordedResponse },
  ): Promise<'released' | 'answered' | 'none'> {
    if (await this.release(ref, claimId)) return 'released';
    const [{ kept }] = await this.dataSource.query<{ kept: number }[]>(LET_GO_ANSWER_SQL, [
      ...refValues(ref),
      claimId,
      ...answerValues(answer.payloadSha256, answer.response),
    ]);
    return kept > 0 ? 'answered' : 'none';
  }

  /** Deletes up to `batch` expired keys; how many it deleted. */
  async sweep(batch: number): Promise<number> {
    const [{ deleted }] = await this.dataSource.query<{ deleted: number }[]>(SWEEP_SQL, [batch]);
    return deleted;
  }
}

function refValues(ref: IdempotencyKeyRef): string[] {
  return [ref.organizationId, ref.principalType, ref.principalId, ref.key];
}

/** The parameters `$6…$9` of a recorded answer: digest, status, headers, body. */
function answerValues(payloadSha256: string | null, response: RecordedResponse): unknown[] {
  return [payloadSha256, response.status, JSON.stringify(response.headers), response.body];
}
