import { applyDecorators, SetMetadata, UseFilters, UseInterceptors } from '@nestjs/common';
import { ApiHeader } from '@nestjs/swagger';
import { ApiProblems } from '../openapi/problems';
import { IdempotencyInterceptor } from './idempotency.interceptor';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from './idempotency.service';
import {
  ALIASES,
  IGNORE_MALFORMED_KEY,
  RECORD_AS,
  REPLAY_AS,
  type RecordAs,
  type ReplayAs,
} from './idempotent-attempt';
import { IdempotentReplayFilter } from './idempotent-replay.filter';

const HEADER_DOC = {
  name: 'Idempotency-Key',
  required: false,
  description:
    'Makes a retry of this request safe (the IETF Idempotency-Key draft): a unique value of ' +
    'your choosing (a UUID), sent again with each retry of the same request. A retry within ' +
    'IDEMPOTENCY_KEY_TTL_HOURS (24 h) gets the first answer again (status, body, Location) ' +
    'without the work being done twice, also from another instance; answers of 500 and up, 412 ' +
    'and 415 are not kept, so a retry after one does the work, unless the work was done and only ' +
    'its answer failed: that key answers 409 idempotent_answer_lost (read the resource to see ' +
    'the result). Keys are per caller (user or API key). ' +
    '409 idempotency_key_in_use (with Retry-After) while the first request is still in ' +
    'progress; 422 idempotency_key_reused when the key came with another request (route or ' +
    'payload). A JSON body is compared byte for byte; a multipart upload by its fields and ' +
    "its file's bytes; a CSV by its rows.",
  schema: {
    type: 'string' as const,
    minLength: 1,
    maxLength: MAX_IDEMPOTENCY_KEY_LENGTH,
    pattern: '^[\\x20-\\x7e]+$',
  },
};

/**
 * How a route's answers are kept for retries, when not as they are: `recordAs` rewrites each one
 * before it is recorded (see RecordAs), `replayAs` answers a retry otherwise than with the
 * recorded answer (see ReplayAs), and `replay` says in OpenAPI what a retry then gets.
 */
export interface IdempotentOptions {
  recordAs?: RecordAs;
  /** A retry's answer instead of the recorded one, when it is a refusal of this retry (ReplayAs). */
  replayAs?: ReplayAs;
  replay?: string;
  /**
   * A malformed key (see parseIdempotencyKey) is ignored, the request served as one without a
   * key, rather than refused: for the compatible APIs' routes, whose documents never named the
   * header, so that a client sending some other value in it for its own reasons works as before.
   */
  ignoreMalformedKey?: boolean;
  /**
   * The paths of one operation served at several, given alike on each of its routes (Inventorum's
   * `/api/images/` and `/api/images`): a request to any of them is fingerprinted with the first,
   * so that a retry sent to another is the same request, replayed rather than 422. Only paths
   * that name one operation on one resource: never two routes that answer differently.
   */
  aliases?: readonly string[];
}

const IGNORED_KEY_DOC =
  'A value that is not 1 to 255 printable ASCII characters sent once is ignored: the request is ' +
  'served as one without a key.';

/** What OpenAPI says of a route served at several paths (`aliases`). */
function aliasesDoc(aliases: readonly string[] | undefined): string | undefined {
  if (!aliases || aliases.length < 2) return undefined;
  const paths = aliases.map((path) => `\`${path}\``).join(' and ');
  return `${paths} are one route for the key: a retry may be sent to either.`;
}

/**
 * The route takes an `Idempotency-Key` (see IdempotencyService), documented in OpenAPI with the
 * problems it adds. A route whose body is multipart or CSV also puts IdempotentUpload or
 * IdempotentRows after its body pipe, which admit the key once the payload is known.
 */
export function Idempotent(options: IdempotentOptions = {}): MethodDecorator {
  const { recordAs, replayAs, replay, ignoreMalformedKey = false, aliases } = options;
  const description = [
    HEADER_DOC.description,
    replay,
    ignoreMalformedKey && IGNORED_KEY_DOC,
    aliasesDoc(aliases),
  ]
    .filter(Boolean)
    .join(' ');
  return applyDecorators(
    UseInterceptors(IdempotencyInterceptor),
    UseFilters(IdempotentReplayFilter),
    ...(recordAs ? [SetMetadata(RECORD_AS, recordAs)] : []),
    ...(replayAs ? [SetMetadata(REPLAY_AS, replayAs)] : []),
    ...(ignoreMalformedKey ? [SetMetadata(IGNORE_MALFORMED_KEY, true)] : []),
    ...(aliases ? [SetMetadata(ALIASES, aliases)] : []),
    ApiHeader({ ...HEADER_DOC, description }),
    ApiProblems(
      ...(ignoreMalformedKey ? [] : ['invalid_idempotency_key' as const]),
      'idempotency_key_in_use',
      'idempotency_key_reused',
      'idempotent_answer_lost',
    ),
  );
}

/**
 * The compatible APIs' uploads: their retries with a key answered once, as the main API's uploads
 * they are; a malformed key ignored, as before they took the header (see IdempotentOptions).
 */
export const COMPAT_IDEMPOTENCY: IdempotentOptions = { ignoreMalformedKey: true };
