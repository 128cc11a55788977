// Every API call of the console goes through the client generated from openapi.json
// (@hey-api/openapi-ts, npm run sdk): its functions are typed by the API's contract.
import { client } from '@sdk/client.gen';
import type { ProblemDetailsDto } from '@sdk';
import { currentToken, endSession, sessionPerson, whenSessionOf } from './session';

// The generated functions' default client, configured once: the API is on the console's own
// origin (relative URLs), and the session's token authenticates each call.
client.setConfig({
  baseUrl: '',
  // The session's JWT for the bearer scheme; the API-key schemes are left unset.
  auth: (scheme) => (scheme.scheme === 'bearer' ? currentToken() : undefined),
});

/**
 * A change of the session's token under way (a password change, which ends every token issued
 * before its answer): a 401 meanwhile may be the old token's, refused as the service changed it.
 */
let tokenChange: Promise<unknown> | undefined;
/** The route of the change under way, whose own 401 is not waited for. */
let changingRoute: string | undefined;

/**
 * Runs `change`, which asks the service at `route` for the session's new token and takes it in:
 * a 401 of another call meanwhile is judged once it is done (see {@link tokenChange}).
 */
export function whileTokenChanges<T>(route: string, change: () => Promise<T>): Promise<T> {
  const changing = change();
  const settled = changing.then(
    () => undefined,
    () => undefined,
  );
  tokenChange = settled;
  changingRoute = route;
  void settled.then(() => {
    if (tokenChange === settled) tokenChange = changingRoute = undefined;
  });
  return changing;
}

// A 401 on a call made with the session's token: it expired, or the service ended it (a logout
// elsewhere, the account disabled). A late answer to a call sent with an earlier token, or with
// none, says nothing of the session now; nor does one that came while the token was being changed
// for a new one, once the new one is in (the change's own answer is judged at once).
client.interceptors.response.use(async (response, request) => {
  const change = tokenChange;
  if (response.status === 401 && change && new URL(request.url).pathname !== changingRoute) {
    await change;
  }
  const token = currentToken();
  if (
    response.status === 401 &&
    token !== undefined &&
    request.headers.get('authorization') === `Bearer ${token}`
  ) {
    endSession('Your session has ended. Log in again to go on.', { keepView: true });
  }
  return response;
});

/** What a call of the generated client resolves to, for the parts the console reads. */
export interface Outcome<T> {
  data?: T;
  error?: unknown;
  response?: Response;
}

/** The call's data, or a CallFailed carrying the problem (or the network failure) in words. */
export async function unwrap<T>(call: Promise<Outcome<T>>): Promise<T> {
  return dataOf(await call);
}

function dataOf<T>(outcome: Outcome<T>): T {
  if (outcome.response?.ok && outcome.error === undefined) return outcome.data as T;
  throw new CallFailed(
    outcome.response?.status ?? 0,
    problemOf(outcome.error),
    retryAfterMs(outcome.response?.headers.get('retry-after')),
  );
}

/** How long until a refused call may be made again, from its Retry-After (seconds or a date). */
export function retryAfterMs(header: string | null | undefined): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
  return Number.isFinite(ms) ? Math.max(ms, 0) : undefined;
}

/**
 * A gallery change's success, and the gallery's version after it, which its `ETag` names (`"5"`):
 * the If-Match of the next change, even when the gallery cannot be read again meanwhile.
 */
export async function unwrapVersion(call: Promise<Outcome<unknown>>): Promise<number | undefined> {
  return (await unwrapWithVersion(call)).version;
}

/** The same, with the call's data (what the service made of the change). */
export async function unwrapWithVersion<T>(
  call: Promise<Outcome<T>>,
): Promise<{ data: T; version: number | undefined }> {
  const outcome = await call;
  const data = dataOf(outcome);
  const version = /^"(\d+)"$/.exec(outcome.response?.headers.get('etag') ?? '');
  return { data, version: version ? Number(version[1]) : undefined };
}

/**
 * A view's read, made again once the person has logged in again when it was refused for want of
 * a session (401: it ended, or had ended, while the view opened), rather than the refusal staying
 * the view's answer; refused still if the console is no longer theirs (a logout, someone else).
 */
export async function readInSession<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const person = sessionPerson();
    try {
      return await read();
    } catch (caught) {
      const refused = caught instanceof CallFailed && caught.status === 401;
      if (!refused || person === undefined || attempt >= 5 || !(await whenSessionOf(person))) {
        throw caught;
      }
    }
  }
}

/** A call the API refused (status and problem+json), or one that never reached it (status 0). */
export class CallFailed extends Error {
  constructor(
    readonly status: number,
    readonly problem: ProblemDetailsDto | undefined,
    /** The answer's Retry-After (a 429, a 503), in milliseconds from now as it came. */
    readonly retryAfterMs?: number,
  ) {
    super(describeProblem(status, problem));
  }

  get code(): string | undefined {
    return this.problem?.code;
  }
}

function problemOf(error: unknown): ProblemDetailsDto | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && 'title' in error) {
    return error as ProblemDetailsDto;
  }
  return undefined;
}

/** A short lead for the problems a person meets while uploading, before the service's words. */
const LEADS: Record<string, string> = {
  unsupported_image_type: 'Type refused.',
  image_type_mismatch: 'Type refused.',
  file_too_large: 'Too large.',
  payload_too_large: 'Too large.',
  image_too_many_pixels: 'Too many pixels.',
  invalid_image: 'Not a readable image.',
  unsafe_svg: 'Unsafe SVG refused.',
  image_url_unreachable: 'Could not fetch the URL.',
  server_busy: 'The service is busy.',
  insufficient_role: 'Not allowed.',
  insufficient_scope: 'Not allowed.',
};

/**
 * An answer without a problem+json body: most often a proxy's page in front of the service (its
 * own body size limit, a gateway that gave up), said by its status, as the service would.
 */
const STATUS_WORDS: Record<number, string> = {
  403: 'Not allowed. Your account may not do this.',
  413: 'Too large. The file is larger than the service, or a proxy in front of it, accepts.',
  415: 'Type refused. The service, or a proxy in front of it, does not take this kind of file.',
  429: 'The service is busy. Too many requests: wait a moment and try again.',
  502: 'The service could not be reached behind its proxy (502). Try again in a moment.',
  503: 'The service is unavailable for now (503). Try again in a moment.',
  504: 'The service took too long to answer (504). Try again in a moment.',
};

/**
 * A problem+json answer as a sentence a person reads: a lead naming the kind of refusal, then
 * the service's own detail (which names the limit or the types it accepts).
 */
export function describeProblem(status: number, problem: ProblemDetailsDto | undefined): string {
  if (status === 0) return 'The service could not be reached. Check your connection and retry.';
  if (!problem) return STATUS_WORDS[status] ?? `The service answered ${status} without saying why.`;
  const lead = LEADS[problem.code];
  const detail = problem.detail || problem.title;
  const text = [detail, ...fieldReasons(problem, detail)]
    .map((sentence) => (/[.!?]$/.test(sentence) ? sentence : `${sentence}.`))
    .join(' ');
  return lead ? `${lead} ${text}` : text;
}

/**
 * What each field a validation refused must be (`external_id must be 1 to 255 characters…`),
 * where the detail does not say it already: "Invalid value for: external_id." names the field
 * only. Other problems' details say it all (their field errors are shorter tags).
 */
function fieldReasons(problem: ProblemDetailsDto, detail: string): string[] {
  if (problem.code !== 'validation_failed') return [];
  return (problem.errors ?? [])
    .filter((error) => error.message && !detail.includes(error.message))
    .map((error) =>
      // class-validator's messages start with the field's name already.
      error.field && !error.message.startsWith(`${error.field} `)
        ? `${error.field} ${error.message}`
        : error.message,
    );
}

/** The message of anything thrown, for a person. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : 'Something went wrong.';
}

/**
 * A new Idempotency-Key (a UUID v4) for one intended action: sent with its first request and
 * with every retry of it, so that a retry after a lost answer gets the first answer again
 * rather than making the thing twice. crypto.randomUUID is offered only to secure pages; a
 * console served over plain HTTP from another host draws the same from getRandomValues.
 */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * A failure that says nothing of the request itself, after which the same request may be sent
 * again with the same Idempotency-Key: no answer (status 0: the request may have been done, its
 * answer lost), the service failing on its side, busy or behind a proxy that gave up (5xx), a
 * timeout (408), the rate limited (429), the session ended (401), or a key still in flight (409
 * idempotency_key_in_use). The service keeps none of these answers for the key, so the retry
 * does the work, or gets its first answer if it was done.
 */
export function retryable(error: unknown): error is CallFailed {
  if (!(error instanceof CallFailed)) return false;
  const { status } = error;
  return (
    status === 0 ||
    status === 401 ||
    status === 408 ||
    status === 429 ||
    status >= 500 ||
    (status === 409 && error.code === 'idempotency_key_in_use')
  );
}

/** A retry whose first request was done, its answer lost (409 idempotent_answer_lost). */
export const doneAnswerLost = (error: unknown): boolean =>
  error instanceof CallFailed && error.status === 409 && error.code === 'idempotent_answer_lost';
